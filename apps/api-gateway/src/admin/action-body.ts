import { UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { Observable } from 'rxjs';
import { fieldsOf, type Doc } from './catalog-docs';

/**
 * The fields of an admin action's optional body (`POST .../toggle`, `.../circuit/reset`): none (no body, `null`) is
 * `{}`, anything but a JSON object is a 400, and a field not in `allowed` is a 400 naming it. An action must not act
 * as if a field it does not read were not there: `{"model": "x"}` sent to a circuit reset (where `model` is a query
 * parameter) reset every circuit of the provider and answered 200, where `/toggle` refused an unknown field.
 */
export function actionFields(body: unknown, allowed: readonly string[]): Doc {
  const fields = body === undefined || body === null ? {} : fieldsOf(body);
  const unknown = Object.keys(fields).find((k) => !allowed.includes(k));
  if (unknown !== undefined) {
    const takes =
      allowed.length === 0
        ? 'this endpoint takes no body'
        : `only ${allowed.map((a) => `'${a}'`).join(', ')} may be sent`;
    throw new GatewayError(ErrorCode.InvalidRequest, `Unknown field '${unknown}': ${takes}.`, { param: unknown });
  }
  return fields;
}

/** Refuses a body with fields before the handler runs (after the guard: a 401 or 403 comes first). */
class NoBodyInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    actionFields(context.switchToHttp().getRequest<{ body?: unknown }>().body, []);
    return next.handle();
  }
}

const NO_BODY = new NoBodyInterceptor();

/**
 * For a POST or DELETE that takes no body (its handler declares none: an admin action, a DELETE, a job's cancel): one
 * with fields is a 400 naming the first, as the routes with a body refuse an unknown field (the DTOs' `@StrictBody()`,
 * `/toggle`). No body, `{}` and `null` are taken; so is an empty one, which the JSON parser reads as none. A DELETE
 * that ignored its body acted as if a field it does not read were not there: `{"model": "x"}` sent to the cache's
 * DELETE (where `model` is a query parameter) emptied the whole cache. action-body.spec.ts checks every route.
 */
export function NoBody(): MethodDecorator {
  return UseInterceptors(NO_BODY);
}
