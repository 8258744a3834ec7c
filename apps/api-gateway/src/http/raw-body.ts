import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/**
 * The request body as parsed (an object, a YAML string, or undefined when there is none), past the validation
 * pipe's "must be a JSON object" check: for handlers whose body is optional or not JSON.
 */
export const RawBody = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): unknown => ctx.switchToHttp().getRequest<FastifyRequest>().body,
);
