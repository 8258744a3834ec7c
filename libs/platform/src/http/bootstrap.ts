import { ConsoleLogger, Logger, type LogLevel, type NestApplicationOptions, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { BaseEnv } from '../config/base-env';
import { sendError } from './errors';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function createLogger(env: BaseEnv, appName: string): ConsoleLogger {
  const upto = LEVELS.indexOf(env.LOG_LEVEL);
  return new ConsoleLogger(appName, {
    logLevels: LEVELS.slice(0, upto + 1),
    json: env.LOG_FORMAT === 'json',
    colors: env.LOG_FORMAT !== 'json' && process.stdout.isTTY,
  });
}

export interface HttpAppOptions {
  bodyLimitBytes?: number;
  host: string;
  port: number;
}

/**
 * Creates a Nest app on Fastify with the project's conventions: one error envelope even for
 * errors Fastify raises before Nest sees the request (bad JSON, body too large), graceful
 * shutdown hooks, and a bounded body size.
 */
export async function createHttpApp(
  module: Type<unknown>,
  env: BaseEnv,
  appName: string,
  opts: HttpAppOptions,
  nestOptions: NestApplicationOptions = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: opts.bodyLimitBytes ?? 1024 * 1024,
    logger: false,
    // Requests stay open for as long as a generation takes; the gateway enforces its own deadlines.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    logger: createLogger(env, appName),
    bufferLogs: true,
    ...nestOptions,
  });
  app
    .getHttpAdapter()
    .getInstance()
    .setErrorHandler((err, request, reply) => {
      sendError(reply, err, (request as { requestId?: string }).requestId);
    });
  // A graceful stop exits 0 (Nest would otherwise re-raise the signal and end as "killed").
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  return app;
}

export async function listen(app: NestFastifyApplication, opts: HttpAppOptions, appName: string): Promise<void> {
  await app.listen(opts.port, opts.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  new Logger(appName).log(`listening on http://${opts.host}:${port}`);
}
