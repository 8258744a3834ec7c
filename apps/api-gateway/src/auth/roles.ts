import {
  applyDecorators,
  createParamDecorator,
  Injectable,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../http/request-context';

export type Role = AuthContext['role'];

const ROLES = Symbol('roles');

/** Restricts a route or controller to callers with one of `roles` (403 permission_denied otherwise). */
export function Roles(...roles: Role[]): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(ROLES, roles), UseGuards(RolesGuard));
}

/** Runs after the global ApiKeyGuard, so `request.auth` is set on every route it guards. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles || roles.length === 0) {
      return true;
    }
    const auth = context.switchToHttp().getRequest<FastifyRequest>().auth;
    if (auth === null || !roles.includes(auth.role)) {
      throw new GatewayError(ErrorCode.PermissionDenied, `This operation requires the ${roles.join(' or ')} role.`);
    }
    return true;
  }
}

/** The authenticated caller (the global ApiKeyGuard guarantees one on every non-public route). */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): AuthContext => {
  const auth = context.switchToHttp().getRequest<FastifyRequest>().auth;
  if (auth === null) {
    throw new GatewayError(ErrorCode.InvalidApiKey, 'Missing API key.');
  }
  return auth;
});
