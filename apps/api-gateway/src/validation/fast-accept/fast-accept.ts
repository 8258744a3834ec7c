import type { ValidationPipeOptions } from '@nestjs/common';
import { InstanceBuilder } from './instance-builder';
import { isPlainObject, REFUSE } from './json-copy';
import { RuleChecker } from './rule-checker';

/**
 * "Fast accept, exact reject": the value Nest's ValidationPipe would return for a valid JSON body, made
 * without its per-call overhead (class-transformer's and class-validator's metadata look-ups for every key
 * and property, error objects for every property, Nest's own walks over the body). The rules are those of
 * the DTO's decorators, read once per class at first use, and the validator functions are the same ones.
 * Anything it cannot positively accept (any invalid body, and the few shapes it does not reproduce, see
 * REFUSE) returns undefined: the pipe then takes the usual path, which words every error as before.
 */
export class FastAccept {
  private readonly builder = new InstanceBuilder();
  private readonly checker = new RuleChecker();

  /** The DTO instance for `body`, or undefined when the usual path must decide. */
  accept(metatype: unknown, body: unknown): object | undefined {
    if (!isPlainObject(body)) {
      return undefined;
    }
    const instance = this.builder.build(metatype, body);
    return instance !== REFUSE && this.checker.valid(instance) ? instance : undefined;
  }
}

/**
 * Whether the fast path reproduces a ValidationPipe with these options: transform on, no whitelist, no
 * unknown-value check, no groups, nothing skipped, default class-transformer options and packages.
 */
export function reproducesPipe(options: ValidationPipeOptions): boolean {
  return (
    options.transform === true &&
    !options.whitelist &&
    !options.forbidNonWhitelisted &&
    !options.forbidUnknownValues &&
    options.groups === undefined &&
    !options.always &&
    !options.strictGroups &&
    !options.skipMissingProperties &&
    !options.skipNullProperties &&
    !options.skipUndefinedProperties &&
    options.transformOptions === undefined &&
    options.expectedType === undefined &&
    options.validatorPackage === undefined &&
    options.transformerPackage === undefined
  );
}
