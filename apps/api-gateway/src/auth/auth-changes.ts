import { Controller, Inject, Injectable } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ControlPattern, type AuthChangedMessage } from '@aigw/core';
import { ControlChannel, ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';
import { ApiKeyAuthenticator } from './api-key-authenticator';

/**
 * Makes a committed change to what a user's keys may do (a key revoked, limits or tier changed, preferences changed)
 * live on every api-gateway replica: this one drops its cached lookups of the user's keys before the answer goes out,
 * and `auth.changed` tells the others to do the same. Without it each replica kept the old lookup for up to
 * AUTH_CACHE_TTL_MS: a revoked key kept working, and a user given a limit was admitted unlimited and uncounted
 * (a caller without limits skips the counters), so the day's limit was overrun by what that window let through.
 * One publish per admin change; nothing on the request path. A lost message (pub/sub is at most once) leaves the
 * TTL as the bound.
 */
@Injectable()
export class AuthChanges {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly control: ControlChannel,
  ) {}

  changed(userId: string): void {
    this.authenticator.forgetUser(userId);
    const message: AuthChangedMessage = { ns: this.env.REDIS_PREFIX, userId };
    this.control.emit(ControlPattern.AuthChanged, message, 'auth_notify');
  }
}

/** `auth.changed` from any replica (this one included: forgetting twice is harmless). */
@Controller()
export class AuthEventsController {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  @EventPattern(ControlPattern.AuthChanged)
  onAuthChanged(@Payload() message: unknown): void {
    if (isAuthChanged(message) && message.ns === this.env.REDIS_PREFIX) {
      this.authenticator.forgetUser(message.userId);
    }
  }
}

function isAuthChanged(m: unknown): m is AuthChangedMessage {
  if (typeof m !== 'object' || m === null) {
    return false;
  }
  const { ns, userId } = m as Record<string, unknown>;
  return typeof ns === 'string' && typeof userId === 'string';
}
