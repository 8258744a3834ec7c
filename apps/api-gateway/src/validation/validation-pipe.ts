import { ValidationPipe, type ArgumentMetadata, type ValidationPipeOptions } from '@nestjs/common';
import { ErrorCode, GatewayError, merged } from '@aigw/core';
import { FastAccept, reproducesPipe } from './fast-accept/fast-accept';
import { unknownFieldError } from './known-fields';
import { isStrict } from './strict-body';
import { invalidParam, validationFailure } from './validation-errors';

/**
 * Unknown fields are ignored rather than rejected, because OpenAI SDKs send fields this gateway has no use
 * for (`user`, `seed`, ...).
 */
export const REQUEST_VALIDATION_OPTIONS: ValidationPipeOptions = {
  transform: true,
  whitelist: false,
  forbidNonWhitelisted: false,
  // Every failing constraint of a field is reported, so that the error names a wrong type first (firstProblem).
  // Only bodies the fast path did not accept get here: the cost is on invalid ones.
  stopAtFirstError: false,
  validationError: { target: false, value: false },
  exceptionFactory: validationFailure,
};

/** class-transformer would turn a JSON array into an array of DTOs and a string into nothing useful. */
export function assertObjectBody(value: unknown, metadata: ArgumentMetadata): void {
  if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new GatewayError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
}

/**
 * No query parameter the API reads takes a list: one sent twice (`?from=a&from=b`, which the query parser reads as
 * an array) is a 400 saying so, rather than a rule of its value misread (`from must be an ISO 8601 date`) or one of
 * the two silently taken. `name`: the one parameter a handler reads (`@Query('format')`), else the whole query.
 * Query routes only (admin, analytics, listings): a loop over the few parameters sent.
 */
export function assertSingleQueryValues(value: unknown, name: string | undefined): void {
  const given = name === undefined ? value : { [name]: value };
  if (typeof given !== 'object' || given === null) {
    return;
  }
  for (const [param, v] of Object.entries(given)) {
    if (Array.isArray(v)) {
      throw invalidParam(param, `${param} must be given once`);
    }
  }
}

/**
 * How deep a body may nest. The usual path (class-transformer) copies a body recursively and overflows the stack
 * somewhere past 1,000 levels, which answered a few-KB body a 500; the fast path refuses anything past 64
 * (`MAX_DEPTH`), so only those bodies pay this check.
 */
export const MAX_BODY_DEPTH = 256;

/** The path of the first value nested deeper than `max` levels (`messages[0].content[0]...`), or null. Iterative. */
export function tooDeepPath(body: unknown, max = MAX_BODY_DEPTH): string | null {
  interface Frame {
    value: unknown;
    depth: number;
    parent: Frame | null;
    key: string | number | null;
  }
  const stack: Frame[] = [{ value: body, depth: 0, parent: null, key: null }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { value, depth } = frame;
    if (typeof value !== 'object' || value === null) {
      continue;
    }
    if (depth >= max) {
      return pathOf(frame);
    }
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((v, i): [number, unknown] => [i, v])
      : Object.entries(value);
    for (const [key, child] of entries) {
      stack.push({ value: child, depth: depth + 1, parent: frame, key });
    }
  }
  return null;

  function pathOf(frame: Frame): string {
    let path = '';
    for (let f: Frame | null = frame; f !== null && f.key !== null; f = f.parent) {
      path = typeof f.key === 'number' ? `[${f.key}]${path}` : `${f.parent?.key === null ? '' : '.'}${f.key}${path}`;
    }
    return path;
  }
}

/**
 * The global pipe: DTO classes validated by class-validator. A body the fast path accepts skips the
 * ValidationPipe's per-call work; every other body (every invalid one) takes the ValidationPipe, which
 * words the error.
 */
export class RequestValidationPipe extends ValidationPipe {
  private readonly fast = reproducesPipe(REQUEST_VALIDATION_OPTIONS) ? new FastAccept() : null;
  private readonly strict = new ValidationPipe(
    merged(REQUEST_VALIDATION_OPTIONS, { whitelist: true, forbidNonWhitelisted: true }),
  );

  constructor() {
    super(REQUEST_VALIDATION_OPTIONS);
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    assertObjectBody(value, metadata);
    if (metadata.type === 'query') {
      assertSingleQueryValues(value, metadata.data);
    }
    if ((metadata.type === 'body' || metadata.type === 'query') && isStrict(metadata.metatype)) {
      return this.strict.transform(value, metadata);
    }
    if (metadata.type === 'body') {
      const accepted = this.fast?.accept(metadata.metatype, value);
      if (accepted !== undefined) {
        return accepted;
      }
      // Here, not in class-validator: it has no rule for "no other field" short of closing every nested class.
      const unknown = unknownFieldError(metadata.metatype, value);
      if (unknown !== null) {
        throw unknown;
      }
      const deep = tooDeepPath(value);
      if (deep !== null) {
        throw new GatewayError(
          ErrorCode.InvalidRequest,
          `The request body nests deeper than ${MAX_BODY_DEPTH} levels.`,
          {
            param: deep,
          },
        );
      }
    }
    return super.transform(value, metadata);
  }
}
