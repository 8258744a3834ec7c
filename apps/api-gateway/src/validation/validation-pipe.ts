import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { validationFailure } from './validation-errors';

/**
 * The global pipe: DTO classes validated by class-validator. Unknown fields are ignored rather than
 * rejected, because OpenAI SDKs send fields this gateway has no use for (`user`, `seed`, ...).
 */
export class RequestValidationPipe extends ValidationPipe {
  constructor() {
    super({
      transform: true,
      whitelist: false,
      forbidNonWhitelisted: false,
      stopAtFirstError: true,
      validationError: { target: false, value: false },
      exceptionFactory: validationFailure,
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // class-transformer would turn a JSON array into an array of DTOs and a string into nothing useful.
    if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new GatewayError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
    }
    return super.transform(value, metadata);
  }
}
