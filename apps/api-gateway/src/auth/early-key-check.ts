import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { awaitsContinue, sendError } from '@aigw/platform';
import type { FastifyInstance } from 'fastify';
import { ApiKeyGuard, PUBLIC_CONTROLLERS } from './api-key.guard';
import { PUBLIC_WHEN, type PublicPredicate } from './public-when';

/** `METHOD /path` of each route the guard checks → the route's `@PublicWhen`, if any. */
type KeyedRoutes = Map<string, PublicPredicate | undefined>;

function joinPath(...parts: (string | undefined)[]): string {
  const path = parts
    .filter((p): p is string => p !== undefined && p !== '' && p !== '/')
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .join('/');
  return `/${path}`;
}

/**
 * The routes of the app's controllers that the ApiKeyGuard checks, as Nest maps them: controller path + method path.
 * Nest would put a global prefix (`setGlobalPrefix`), a version (`enableVersioning`) or a `RouterModule` path in
 * front, which this table does not: the gateway sets none. One added, no request would match the table and every
 * `Expect: 100-continue` upload would again come before its 401 (the guard still refuses it, after the body). A test
 * (expect-continue) checks that each path here is one the app serves.
 */
export function keyedRoutes(app: NestFastifyApplication): KeyedRoutes {
  const routes: KeyedRoutes = new Map();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type<unknown> | null;
      if (!controller || PUBLIC_CONTROLLERS.has(controller)) {
        continue;
      }
      const bases = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined].flat();
      const proto = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (name === 'constructor' || typeof handler !== 'function') {
          continue;
        }
        const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (paths === undefined || method === undefined) {
          continue;
        }
        const publicWhen = Reflect.getMetadata(PUBLIC_WHEN, handler) as PublicPredicate | undefined;
        for (const base of bases) {
          for (const path of [paths].flat()) {
            routes.set(`${RequestMethod[method]} ${joinPath(base, path)}`, publicWhen);
          }
        }
      }
    }
  }
  return routes;
}

/**
 * The ApiKeyGuard's check, before the body of a request sent with `Expect: 100-continue` is asked for (see
 * `installLateContinue`): a caller without a valid key got its 401 only after uploading its whole body (up to
 * MAX_BODY_BYTES), the guard running once Fastify has read it. Same decision, same error envelope; the guard checks
 * again later, from the key cache. Requests without `Expect` pass at once (one WeakSet lookup).
 */
export function installEarlyKeyCheck(fastify: FastifyInstance, app: NestFastifyApplication): void {
  let routes: KeyedRoutes | undefined;
  let guard: ApiKeyGuard | undefined;
  fastify.addHook('onRequest', (req, reply, done) => {
    if (!awaitsContinue(req.raw) || req.is404) {
      done();
      return;
    }
    // Read once the routes are mapped (the first such request comes after init).
    routes ??= keyedRoutes(app);
    // The explicit type: inferred from `guard`'s, Nest's `get` would answer `ApiKeyGuard | undefined`.
    guard ??= app.get<ApiKeyGuard>(ApiKeyGuard);
    const route = `${req.method} ${req.routeOptions.url ?? ''}`;
    if (!routes.has(route)) {
      done();
      return;
    }
    const refuse = (err: unknown): void => sendError(reply, err, req.requestId);
    try {
      const admitted = guard.admitRequest(req, routes.get(route));
      if (admitted instanceof Promise) {
        admitted.then(() => done(), refuse);
      } else {
        done();
      }
    } catch (err) {
      refuse(err);
    }
  });
}
