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

/** Provides LOCAL_REPLIES: the process's LocalReplies when it is shared, null when the app runs alone. */
@Global()
@Module({})
export class LocalRepliesModule {
  static forRoot(shared: SharedProcess | undefined): DynamicModule {
    return {
      module: LocalRepliesModule,
      providers: [{ provide: LOCAL_REPLIES, useValue: shared?.replies ?? null }],
      exports: [LOCAL_REPLIES],
    };
  }
}
