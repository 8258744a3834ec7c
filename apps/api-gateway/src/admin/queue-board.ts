import path from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type * as BullBoardApi from '@bull-board/api';
import type * as BullBoardAdapter from '@bull-board/api/bullMQAdapter';
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

/**
 * Bull Board's routes as `createBullBoard` hands them to a server adapter (its `appRoutes`: the page's, then the
 * API's, each with its method), declared here so that the gateway registers them at boot without loading the
 * package (~2 MB of heap and 60 modules, in every gateway, for a page few open). A test checks them against the
 * installed version's.
 */
export const BOARD_ROUTES = {
  entry: ['/', '/metrics-history', '/job-schedulers', '/queue/:queueName', '/queue/:queueName/:jobId'],
  api: [
    ['get', '/api/redis/stats'],
    ['get', '/api/queues'],
    ['get', '/api/job-schedulers'],
    ['get', '/api/queues/:queueName/metrics'],
    ['get', '/api/queues/:queueName/default-job-options'],
    ['get', '/api/queues/:queueName/workers'],
    ['get', '/api/queues/:queueName/rate-limit'],
    ['get', '/api/queues/:queueName/job-data-schema'],
    ['put', '/api/queues/pause'],
    ['put', '/api/queues/resume'],
    ['get', '/api/queues/:queueName/:jobId/logs'],
    ['get', '/api/queues/:queueName/:jobId/flow'],
    ['get', '/api/queues/:queueName/:jobId'],
    ['post', '/api/queues/:queueName/add'],
    ['put', '/api/queues/:queueName/retry/:queueStatus'],
    ['put', '/api/queues/:queueName/promote'],
    ['put', '/api/queues/:queueName/clean/:queueStatus'],
    ['put', '/api/queues/:queueName/pause'],
    ['put', '/api/queues/:queueName/resume'],
    ['put', '/api/queues/:queueName/concurrency'],
    ['put', '/api/queues/:queueName/rate-limit'],
    ['put', '/api/queues/:queueName/rate-limit/release'],
    ['put', '/api/queues/:queueName/empty'],
    ['put', '/api/queues/:queueName/obliterate'],
    ['put', '/api/queues/:queueName/job-schedulers/:schedulerId/remove'],
    ['patch', '/api/queues/:queueName/job-schedulers/:schedulerId'],
    ['put', '/api/queues/:queueName/job-schedulers/:schedulerId/run'],
    ['put', '/api/queues/:queueName/:jobId/retry'],
    ['put', '/api/queues/:queueName/:jobId/clean'],
    ['put', '/api/queues/:queueName/:jobId/promote'],
    ['patch', '/api/queues/:queueName/:jobId/update-data'],
    ['patch', '/api/queues/:queueName/:jobId/delay'],
    ['patch', '/api/queues/:queueName/:jobId/priority'],
    ['put', '/api/queues/:queueName/:jobId/remove-unprocessed-children'],
  ],
} as const satisfies { entry: readonly string[]; api: readonly (readonly [string, string])[] };

/** Where Bull Board's page and assets are (its UI package), found without loading either package. */
export function boardUiPath(): string {
  return path.dirname(
    require.resolve('@bull-board/ui/package.json', {
      paths: [path.dirname(require.resolve('@bull-board/api'))],
    }),
  );
}

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

  /** The page's HTML (the entry route `createBullBoard` set), under `base`. */
  async page(base: string): Promise<string> {
    const entry = this.entry;
    if (entry === null) {
      throw new Error('createBullBoard did not set the entry route');
    }
    const { name, params } = entry.handler({ basePath: `${base}/`, uiConfig: this.ui });
    return renderFile(path.join(this.viewsPath, name), params);
  }

  /** The route Bull Board declared for `method` and `url` (as in BOARD_ROUTES). */
  apiRoute(method: string, url: string): AppControllerRoute | undefined {
    return this.api.find((r) => [r.method].flat().includes(method as 'get') && [r.route].flat().includes(url));
  }

  async answer(route: AppControllerRoute, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
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
  }
}

/**
 * Registers Bull Board's routes (BOARD_ROUTES) and assets under `base`, each behind `guard`, which loads the board
 * (`board`) before a handler runs.
 */
function registerBoardRoutes(
  fastify: FastifyInstance,
  base: string,
  guard: (req: FastifyRequest, reply: FastifyReply) => Promise<void>,
  board: () => BoardRoutes,
): void {
  serveStaticFiles(fastify, {
    prefix: `${base}/static`,
    root: path.join(boardUiPath(), 'dist/static'),
    onRequest: guard,
  });
  for (const route of BOARD_ROUTES.entry) {
    fastify.route({
      method: 'GET',
      url: `${base}${route === '/' ? '' : route}`,
      onRequest: guard,
      handler: async (_req, reply) => reply.type('text/html; charset=utf-8').send(await board().page(base)),
    });
  }
  for (const [method, url] of BOARD_ROUTES.api) {
    fastify.route({
      method: method.toUpperCase(),
      url: `${base}${url}`,
      onRequest: guard,
      handler: async (req, reply) => {
        const route = board().apiRoute(method, url);
        if (route === undefined) {
          throw new Error(`Bull Board declares no ${method} ${url}: BOARD_ROUTES is out of date`);
        }
        return board().answer(route, req, reply);
      },
    });
  }
}

/**
 * Bull Board for admins at `/admin/queues`: the generation, usage and every other queue in `QueueName`.
 * Costs nothing until an admin opens it: the package itself, its Redis connection and queue handles are loaded and
 * made on the first authorised request, and closed at shutdown.
 */
@Injectable()
export class QueueBoard implements OnApplicationShutdown {
  private connection: Redis | null = null;
  private queues: Queue[] = [];
  /** Bull Board's adapter once an admin opened the board. */
  private routes: BoardRoutes | null = null;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  install(fastify: FastifyInstance): void {
    registerBoardRoutes(
      fastify,
      QUEUE_BOARD_PATH,
      (req, reply) => this.guard(req, reply),
      () => {
        if (this.routes === null) {
          throw new Error('the queue board was not opened by its guard');
        }
        return this.routes;
      },
    );
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
    if (this.routes !== null) {
      return;
    }
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded on the first authorised request, not at boot: a static import would load it into every gateway */
    const { createBullBoard } = require('@bull-board/api') as typeof BullBoardApi;
    const { BullMQAdapter } = require('@bull-board/api/bullMQAdapter') as typeof BullBoardAdapter;
    /* eslint-enable @typescript-eslint/no-require-imports */
    const routes = new BoardRoutes();
    const board = createBullBoard({
      queues: [],
      serverAdapter: routes,
      options: { uiConfig: { boardTitle: 'AI gateway queues' }, uiBasePath: boardUiPath() },
    });
    this.connection = createRedis(this.env.REDIS_URL, 'queue-board', this.errors);
    for (const name of Object.values(QueueName)) {
      const queue = new Queue(name, bullOptions(this.connection, this.keys));
      this.queues.push(queue);
      board.addQueue(new BullMQAdapter(queue));
    }
    this.routes = routes;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
    if (this.connection !== null) {
      await closeRedis(this.connection);
    }
  }
}
