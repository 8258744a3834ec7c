import {
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

const DRAIN_EVERY_MS = 100;

/**
 * While the HTTP server closes, keep closing the connections that carry no request, so that only requests in flight
 * hold the close open (within SHUTDOWN_GRACE_MS).
 *
 * `server.close()` only drops the keep-alive connections idle at the moment it is called; one whose in-flight
 * request finishes afterwards would hold the close open until the keep-alive timeout (HTTP_KEEP_ALIVE_TIMEOUT_MS,
 * 65 s by default), past any grace period: `closeIdleConnections()` every round drops it.
 *
 * A connection that has not received a byte (a load balancer's or fetch's spare, opened ahead of a request that never
 * came) Node counts as a request in progress, not as idle, and `server.close()` stops the check that would end it at
 * headersTimeout: it held the close until the hard exit. No public API lists a server's connections, so each one is
 * remembered from its 'connection' event until it closes (a Set entry and a 'close' listener per connection, nothing
 * per request). While a request is in flight the close waits for it anyway, so such a connection stays open: a
 * request the client sends on it gets the closing answer (503, `connection: close`, libs/platform closing.ts) rather
 * than a reset. Once the only connections left have read nothing, over two rounds (a client that connected just now
 * may be writing its request), they are destroyed. A connection that has read a byte and is not idle has a request
 * arriving (its head or body still on its way) or being answered, and is left to finish.
 */
@Injectable()
export class ConnectionDrainer implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly open = new Set<Socket>();
  /** The connections that had read nothing at the last round. */
  private silent = new Set<Socket>();

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    this.server()?.on('connection', (socket: Socket) => {
      this.open.add(socket);
      socket.once('close', () => this.open.delete(socket));
    });
  }

  beforeApplicationShutdown(): void {
    const server = this.server();
    if (server === undefined) {
      return;
    }
    // From the first idle connection closed on: answers say `connection: close` (and new requests are sent to
    // another replica, libs/platform closing.ts), or a client could reuse a connection this is about to close.
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().closing = true;
    this.drain(server);
    this.timer = setInterval(() => this.drain(server), DRAIN_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.silent.clear();
  }

  private drain(server: Server): void {
    server.closeIdleConnections();
    const silent = new Set<Socket>();
    let inFlight = false;
    for (const socket of this.open) {
      // closeIdleConnections destroyed the idle ones; their 'close' comes later.
      if (socket.destroyed) {
        continue;
      }
      if (socket.bytesRead > 0) {
        inFlight = true;
      } else {
        silent.add(socket);
      }
    }
    if (!inFlight) {
      for (const socket of silent) {
        if (this.silent.has(socket)) {
          socket.destroy();
        }
      }
    }
    this.silent = silent;
  }

  private server(): Server | undefined {
    return this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
  }
}
