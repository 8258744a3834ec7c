import { DEFAULT_TIER, NO_LIMITS } from '@aigw/core';
import { Controller, Get, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { AuthContext } from '../http/request-context';
import { Roles, RolesGuard } from './roles';

@Controller()
class Probe {
  @Get('admin')
  @Roles('admin')
  admin(): void {}

  @Get('open')
  open(): void {}
}

function context(handler: keyof Probe, auth: AuthContext | null): ExecutionContext {
  const fn = Probe.prototype[handler];
  return new ExecutionContextHost([{ auth }, {}], Probe, fn);
}

describe('RolesGuard', () => {
  const guard = new RolesGuard(new Reflector());
  const policy = { tier: DEFAULT_TIER, expiresAt: null, allowedModels: null, limits: NO_LIMITS };
  const user: AuthContext = { userId: 'u', apiKeyId: 'k', role: 'user', policy };
  const admin: AuthContext = { ...user, role: 'admin' };

  it('lets through routes without @Roles', () => {
    expect(guard.canActivate(context('open', user))).toBe(true);
  });

  it('admits the named role', () => {
    expect(guard.canActivate(context('admin', admin))).toBe(true);
  });

  it('refuses other roles with 403 permission_denied', () => {
    let caught: unknown;
    try {
      guard.canActivate(context('admin', user));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe(ErrorCode.PermissionDenied);
    expect((caught as GatewayError).status).toBe(403);
  });
});
