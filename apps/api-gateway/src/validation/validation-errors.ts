import { ErrorCode, GatewayError } from '@aigw/core';
import type { ValidationError } from 'class-validator';

const INDEX = /^\d+$/;

/**
 * Constraints that say what type a field must have. When a field fails one of them its other failures follow from
 * it (a string sent as `messages` also fails "should not be empty"), so its message is the one given.
 */
const TYPE_CONSTRAINTS = ['isDefined', 'isArray', 'isObject', 'isString', 'isBoolean', 'isNumber', 'isInt'];

/**
 * The first failing field as an OpenAI-style path (`messages[0].content`) with its message.
 * class-validator reports nested failures as a tree (`messages` -> `0` -> `content`); the first
 * leaf in declaration order is the one named. Validate with every constraint of a field reported (no
 * `stopAtFirstError`): class-validator checks a field's decorators bottom-up, so the first one it reports is not
 * the one a reader should see; of a field's failures, a wrong type is named first.
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
  return { param, message: (node.constraints && messageOf(node.constraints)) ?? 'is invalid' };
}

function messageOf(constraints: Record<string, string>): string | undefined {
  const type = TYPE_CONSTRAINTS.find((name) => name in constraints);
  return type === undefined ? Object.values(constraints)[0] : constraints[type];
}

/** 400 invalid_request naming the field at fault: `Invalid '<param>': <message>.` */
export function invalidParam(param: string, message: string): GatewayError {
  return new GatewayError(ErrorCode.InvalidRequest, `Invalid '${param}': ${message}.`, { param });
}

/** The ValidationPipe's exceptionFactory: 400 invalid_request naming the first bad field. */
export function validationFailure(errors: ValidationError[]): GatewayError {
  const problem = firstProblem(errors);
  if (problem === null) {
    return new GatewayError(ErrorCode.InvalidRequest, 'The request body is invalid.');
  }
  return invalidParam(problem.param, problem.message);
}
