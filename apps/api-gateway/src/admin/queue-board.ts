import path from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type {
  AppControllerRoute,
  AppViewRoute,
  BullBoardQueues,
  ControllerHandlerReturnType,
  IServerAdapter,
  UIConfig,
} from '@bull-board/api/dist/types';
import { ErrorCode, GatewayError, isExpired, keyExpiredError, QueueName } from '@aigw/core';
import {
  bullOptions,
  closeRedis,
  createRedis,
  ENV,
  RedisErrors,
  RedisKeys,
  sendError,
  serveStaticFiles,
} from '@aigw/platform';
import { Queue } from 'bullmq';
import { renderFile } from 'ejs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { ApiKeyAuthenticator } from '../auth/api-key-authenticator';
import { presentedKey } from '../auth/credentials';
import type { GatewayEnv } from '../config/gateway-env';

export const QUEUE_BOARD_PATH = '/admin/queues';

const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i;

/**
 * Every board answer: a browser holds the admin key as Basic credentials and sends it with any request to this
 * origin, so no other site may frame the board (its Clean, Empty and Obliterate buttons) or keep its job data (the
 * static assets set their own cache-control after this).
 */
const BOARD_HEADERS: Readonly<Record<string, string>> = {
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * A change (anything but GET and HEAD) that a page of another site made the browser send: the browser attached the
 * cached Basic credentials on its own. Browsers say so in `Sec-Fetch-Site`; other clients send none and pass.
 */
function crossSiteChange(req: FastifyRequest): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') {
    return false;
  }
  const site = req.headers['sec-fetch-site'];
  return site !== undefined && site !== 'same-origin' && site !== 'none';
}

/**
 * The key a browser or a client presents: a bearer token or `x-api-key` like every route, or HTTP Basic with
 * the key as the password (the user name is ignored), so that a browser can open the board after a prompt.
 */
function keyOf(req: FastifyRequest): string | null {
  const basic = BASIC.exec(req.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const key = decoded.slice(decoded.indexOf(':') + 1);
    return key === '' ? null : key;
  }
  return presentedKey(req.headers);
}

/**
 * A Bull Board server adapter for Fastify routes the gateway registers itself (the board's own Fastify
 * adapter pulls in a static plugin that the test runner cannot load). Every route sits behind `guard`.
 */
class BoardRoutes implements IServerAdapter {
  private queues: BullBoardQueues = new Map();
  private viewsPath = '';
  private statics = { route: '', path: '' };
  private entry: AppViewRoute | null = null;
  private api: AppControllerRoute[] = [];
  private onError: (error: Error) => ControllerHandlerReturnType = () => ({ status: 500, body: 'error' });
  private ui: UIConfig = {};

  setQueues(queues: BullBoardQueues): this {
    this.queues = queues;
    return this;
  }
  setViewsPath(viewsPath: string): this {
    this.viewsPath = viewsPath;
    return this;
  }
  setStaticPath(route: string, staticsPath: string): this {
    this.statics = { route, path: staticsPath };
    return this;
  }
  setEntryRoute(route: AppViewRoute): this {
    this.entry = route;
    return this;
  }
  setErrorHandler(handler: (error: Error) => ControllerHandlerReturnType): this {
    this.onError = handler;
    return this;
  }
  setApiRoutes(routes: AppControllerRoute[]): this {
    this.api = routes;
    return this;
  }
  setUIConfig(config: UIConfig): this {
    this.ui = config;
    return this;
  }

  register(
    fastify: FastifyInstance,
    base: string,
    guard: (req: FastifyRequest, reply: FastifyReply) => Promise<void>,
  ): void {
    const entry = this.entry;
    if (entry === null) {
      throw new Error('createBullBoard did not set the entry route');
    }
    serveStaticFiles(fastify, { prefix: `${base}${this.statics.route}`, root: this.statics.path, onRequest: guard });
    for (const route of [entry.route].flat()) {
      fastify.route({
        method: entry.method.toUpperCase(),
        url: `${base}${route === '/' ? '' : route}`,
        onRequest: guard,
        handler: async (_req, reply) => {
          const { name, params } = entry.handler({ basePath: `${base}/`, uiConfig: this.ui });
          const html = await renderFile(path.join(this.viewsPath, name), params);
          return reply.type('text/html; charset=utf-8').send(html);
        },
      });
    }
    for (const route of this.api) {
      for (const url of [route.route].flat()) {
        fastify.route({
          method: [route.method].flat().map((m) => m.toUpperCase() as 'GET'),
          url: `${base}${url}`,
          onRequest: guard,
          handler: async (req, reply) => {
            try {
              const res = await route.handler({
                queues: this.queues,
                uiConfig: this.ui,
                params: req.params as Record<string, string>,
                query: req.query as Record<string, string>,
                body: (req.body ?? {}) as Record<string, unknown>,
                headers: req.headers as Record<string, string | undefined>,
              });
              return reply.status(res.status ?? 200).send(res.body);
            } catch (err) {
              const res = this.onError(err instanceof Error ? err : new Error(String(err)));
              return reply.status(res.status ?? 500).send(res.body);
            }
          },
        });
      }
    }
  }
}

/**
 * Bull Board for admins at `/admin/queues`: the generation, usage and every other queue in `QueueName`.
 * Costs nothing until an admin opens it: its Redis connection and queue handles are made on the first
 * authorised request, and closed at shutdown.
 */
@Injectable()
export class QueueBoard implements OnApplicationShutdown {
  private connection: Redis | null = null;
  private queues: Queue[] = [];
  private readonly routes = new BoardRoutes();
  private readonly board = createBullBoard({
    queues: [],
    serverAdapter: this.routes,
    options: { uiConfig: { boardTitle: 'AI gateway queues' } },
  });

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  install(fastify: FastifyInstance): void {
    this.routes.register(fastify, QUEUE_BOARD_PATH, (req, reply) => this.guard(req, reply));
  }

  private async guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    void reply.headers(BOARD_HEADERS);
    if (crossSiteChange(req)) {
      return sendError(
        reply,
        new GatewayError(ErrorCode.PermissionDenied, 'The queue board takes changes from its own pages only.'),
      );
    }
    const key = keyOf(req);
    const auth = key === null ? null : await this.authenticator.authenticate(key);
    if (auth === null) {
      void reply.header('www-authenticate', 'Basic realm="AI gateway queues", charset="UTF-8"');
      return sendError(
        reply,
        new GatewayError(
          ErrorCode.InvalidApiKey,
          'An admin API key is needed: send it as a bearer token, or as the password when the browser asks.',
        ),
      );
    }
    const now = Date.now();
    if (isExpired(auth.policy, now)) {
      return sendError(reply, keyExpiredError());
    }
    this.authenticator.used(auth, now);
    if (auth.role !== 'admin') {
      return sendError(reply, new GatewayError(ErrorCode.PermissionDenied, 'The queue board requires the admin role.'));
    }
    this.attachQueues();
  }

  private attachQueues(): void {
    if (this.connection !== null) {
      return;
    }
    this.connection = createRedis(this.env.REDIS_URL, 'queue-board', this.errors);
    for (const name of Object.values(QueueName)) {
      const queue = new Queue(name, bullOptions(this.connection, this.keys));
      this.queues.push(queue);
      this.board.addQueue(new BullMQAdapter(queue));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
    if (this.connection !== null) {
      await closeRedis(this.connection);
    }
  }
}
