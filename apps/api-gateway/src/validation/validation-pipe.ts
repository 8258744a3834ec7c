import { ValidationPipe, type ArgumentMetadata, type ValidationPipeOptions } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { FastAccept, reproducesPipe } from './fast-accept/fast-accept';
import { validationFailure } from './validation-errors';

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
 * The global pipe: DTO classes validated by class-validator. A body the fast path accepts skips the
 * ValidationPipe's per-call work; every other body (every invalid one) takes the ValidationPipe, which
 * words the error.
 */
export class RequestValidationPipe extends ValidationPipe {
  private readonly fast = reproducesPipe(REQUEST_VALIDATION_OPTIONS) ? new FastAccept() : null;

  constructor() {
    super(REQUEST_VALIDATION_OPTIONS);
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    assertObjectBody(value, metadata);
    if (metadata.type === 'body') {
      const accepted = this.fast?.accept(metadata.metatype, value);
      if (accepted !== undefined) {
        return accepted;
      }
    }
    return super.transform(value, metadata);
  }
}
