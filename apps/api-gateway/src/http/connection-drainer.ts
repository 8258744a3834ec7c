import { Injectable, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

/**
 * Starts the drain of the gateway's connections (libs/platform connection-drainer.ts, which every app's server has)
 * at beforeApplicationShutdown, before the adapter's close, rather than when Fastify closes the server: from then on
 * answers say `connection: close` and idle connections are closed while the app's other shutdown hooks run.
 */
@Injectable()
export class EarlyConnectionDrain implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  beforeApplicationShutdown(): void {
    this.fastify()?.connectionDrainer.start();
  }

  onApplicationShutdown(): void {
    this.fastify()?.connectionDrainer.stop();
  }

  private fastify(): FastifyInstance | undefined {
    return this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
  }
}
