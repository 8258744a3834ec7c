import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode, GatewayError, invalidApiKeyError, isExpired, keyExpiredError } from '@aigw/core';
import { ENV, HealthController, MetricsController } from '@aigw/platform';
import type { FastifyRequest } from 'fastify';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { ApiKeyAuthenticator } from './api-key-authenticator';
import { presentedKey } from './credentials';
import { PUBLIC_WHEN, type PublicPredicate } from './public-when';

/** Controllers open without a key: probes and scrapers do not hold API keys. */
export const PUBLIC_CONTROLLERS: ReadonlySet<unknown> = new Set([HealthController, MetricsController]);

/**
 * Global guard: every route needs a valid API key except the public controllers above (an
 * allow-list, so a new controller is protected by default) and routes marked `@PublicWhen` while their
 * configuration opens them, which take callers without a key. A key sent to such a route is checked all the same
 * (an invalid one is a 401) and makes the request that key's, with its own limits. Attaches the caller to
 * `request.auth`.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly reflector: Reflector,
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (PUBLIC_CONTROLLERS.has(context.getClass())) {
      return true;
    }
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    return this.admitRequest(req, this.reflector.get<PublicPredicate | undefined>(PUBLIC_WHEN, context.getHandler()));
  }

  /**
   * The guard's decision on `req`, for a route that takes a key (`publicWhen`: opened by the configuration): true, or
   * the GatewayError it throws. Also run before the body of an `Expect: 100-continue` request is asked for
   * (`installEarlyKeyCheck`), then again by the guard, from the key cache.
   */
  admitRequest(req: FastifyRequest, publicWhen: PublicPredicate | undefined): boolean | Promise<boolean> {
    const key = presentedKey(req.headers);
    if (key === null) {
      // An open route serves callers without a key; one who sends a key is that key's caller (checked below).
      if (publicWhen?.(this.env) === true) {
        return true;
      }
      throw new GatewayError(
        ErrorCode.InvalidApiKey,
        'Missing API key: send it as "Authorization: Bearer <key>" or in the x-api-key header.',
      );
    }
    const auth = this.authenticator.authenticate(key);
    return auth instanceof Promise ? auth.then((a) => this.admit(req, a)) : this.admit(req, auth);
  }

  private admit(req: FastifyRequest, auth: AuthContext | null): boolean {
    if (auth === null) {
      throw invalidApiKeyError();
    }
    // Checked per request, not per lookup: a cached key may pass its expiry while cached.
    const now = Date.now();
    if (isExpired(auth.policy, now)) {
      throw keyExpiredError();
    }
    this.authenticator.used(auth, now);
    req.auth = auth;
    return true;
  }
}
