import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { StartupError } from '../lifecycle/start-failure';
import { MetricsExposition } from './metrics';

/** Where the separate metrics port listens (METRICS_PORT), given to `MetricsModule.forRoot`. */
export interface MetricsPortOptions {
  host: string;
  port: number;
}

export const METRICS_PORT_OPTIONS = Symbol('METRICS_PORT_OPTIONS');

const EXPOSITION_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * `/metrics` on a port of its own (METRICS_PORT), instead of the app's: the api-gateway's port is its public one, and
 * the scraper's route there told anyone who reached it the providers, models, request counts and costs. A plain Node
 * server: it answers one route, with nothing of the app's request pipeline (keys, CORS, admission) to go through.
 * It opens at the app's bootstrap, before the app's own port, and closes last at shutdown: the drain stays visible
 * to Prometheus.
 */
@Injectable()
export class MetricsListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server?: Server;

  constructor(
    private readonly exposition: MetricsExposition,
    @Inject(METRICS_PORT_OPTIONS) private readonly opts: MetricsPortOptions,
  ) {}

  /** The bound port (METRICS_PORT, or the one picked for 0). */
  get port(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((req, res) => void this.answer(req, res));
    // Prometheus keeps its connection open between scrapes; the timeouts of Node's defaults bound the rest.
    server.keepAliveTimeout = 65_000;
    let host = this.opts.host;
    try {
      try {
        await listenOn(server, this.opts.port, host);
      } catch (err) {
        // As the app's own port (`listen`): `::` on a host without IPv6 listens on IPv4.
        if (host !== '::' || (err as NodeJS.ErrnoException | null)?.code !== 'EAFNOSUPPORT') {
          throw err;
        }
        host = '0.0.0.0';
        await listenOn(server, this.opts.port, host);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | null)?.code ?? 'error';
      throw new StartupError(
        `cannot listen on ${isIPv6(host) ? `[${host}]` : host}:${this.opts.port} for /metrics (${code}): set METRICS_PORT to a free port, not PORT`,
        { cause: err },
      );
    }
    this.server = server;
    this.logger.log(`/metrics on port ${this.port ?? this.opts.port}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined) {
      return;
    }
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Node closes the idle keep-alive connections itself; a scrape still being answered would hold the close.
      server.closeAllConnections();
    });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      sendError(res, ErrorCode.NotFound, `no route ${path} on the metrics port: it serves GET /metrics only`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, ErrorCode.MethodNotAllowed, `${req.method ?? ''} /metrics is not supported: use GET`);
      return;
    }
    try {
      const body = await this.exposition.metrics();
      res.writeHead(200, { 'content-type': EXPOSITION_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.logger.error(`/metrics failed: ${err instanceof Error ? err.message : String(err)}`);
      sendError(res, ErrorCode.Internal, 'the metrics could not be collected');
    }
  }
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function sendError(res: ServerResponse, code: ErrorCode, message: string): void {
  const error = new GatewayError(code, message);
  const body = JSON.stringify({ error: error.toBody() });
  res.writeHead(error.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
