import { Global, Module, type DynamicModule } from '@nestjs/common';
import { LOCAL_REPLIES, type LocalReplies } from './local-replies';

/**
 * What the apps hosted in one Node process share (single-process mode, ADR 0010). An app given one runs beside the
 * others: it leaves SIGTERM to the host, which closes the apps in order, and only the api-gateway opens a port,
 * collects the process metrics and serves `/metrics` and `/health/*` for all. Absent: the app runs alone.
 */
export interface SharedProcess {
  /** The reply channels of the gateway of this process: its worker answers them in memory. */
  replies: LocalReplies;
}

/**
 * The app's name when it shares its process with others (`router-worker`), else null: the lines it logs about what
 * each app of the process has of its own (its Redis connections' outages) say which app they are about.
 */
export const SHARED_APP_NAME = Symbol('SHARED_APP_NAME');

/**
 * Provides LOCAL_REPLIES: the process's LocalReplies when it is shared, null when the app runs alone; and
 * SHARED_APP_NAME: `app` when it is shared, null when it runs alone.
 */
@Global()
@Module({})
export class LocalRepliesModule {
  static forRoot(shared: SharedProcess | undefined, app: string): DynamicModule {
    return {
      module: LocalRepliesModule,
      providers: [
        { provide: LOCAL_REPLIES, useValue: shared?.replies ?? null },
        { provide: SHARED_APP_NAME, useValue: shared === undefined ? null : app },
      ],
      exports: [LOCAL_REPLIES, SHARED_APP_NAME],
    };
  }
}
