import { ErrorCode, GatewayError } from '@aigw/core';
import type { ValidationError } from 'class-validator';

const INDEX = /^\d+$/;

/**
 * The first failing field as an OpenAI-style path (`messages[0].content`) with its message.
 * class-validator reports nested failures as a tree (`messages` -> `0` -> `content`); the first
 * leaf in declaration order is the one named.
 */
export function firstProblem(errors: readonly ValidationError[]): { param: string; message: string } | null {
  let node = errors[0];
  if (node === undefined) {
    return null;
  }
  let param = node.property;
  while (!node.constraints && node.children && node.children.length > 0) {
    node = node.children[0];
    param += INDEX.test(node.property) ? `[${node.property}]` : `.${node.property}`;
  }
  const constraint = node.constraints ? Object.values(node.constraints)[0] : undefined;
  return { param, message: constraint ?? 'is invalid' };
}

/** The ValidationPipe's exceptionFactory: 400 invalid_request naming the first bad field. */
export function validationFailure(errors: ValidationError[]): GatewayError {
  const problem = firstProblem(errors);
  if (problem === null) {
    return new GatewayError(ErrorCode.InvalidRequest, 'The request body is invalid.');
  }
  return new GatewayError(ErrorCode.InvalidRequest, `Invalid '${problem.param}': ${problem.message}.`, {
    param: problem.param,
  });
}
