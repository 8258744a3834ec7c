import { Injectable, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';

const DRAIN_EVERY_MS = 100;

/**
 * While the HTTP server closes, keep closing connections that went idle. `server.close()` only drops
 * the connections idle at the moment it is called; a keep-alive connection whose in-flight request
 * finishes afterwards would hold the close open until the keep-alive timeout (HTTP_KEEP_ALIVE_TIMEOUT_MS,
 * 65 s by default), past any grace period. Polling here costs the request path nothing.
 */
@Injectable()
export class ConnectionDrainer implements BeforeApplicationShutdown, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  beforeApplicationShutdown(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (server === undefined) {
      return;
    }
    // From the first idle connection closed on: answers say `connection: close` (and new requests are sent to
    // another replica, libs/platform closing.ts), or a client could reuse a connection this is about to close.
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().closing = true;
    this.timer = setInterval(() => server.closeIdleConnections(), DRAIN_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
