import type { ArgumentMetadata } from '@nestjs/common';

const STRICT_BODY = Symbol('strict-body');

/**
 * Marks a body DTO whose unknown fields are a 400 naming them, instead of being ignored: the admin and account
 * bodies, where a misspelt field (`allowedmodels`, `expiresat`) would otherwise quietly create an unrestricted,
 * never-expiring key. The OpenAI and Anthropic bodies stay lenient (SDKs send fields the gateway has no use for).
 */
export function StrictBody(): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(STRICT_BODY, true, target);
  };
}

export function isStrict(metatype: ArgumentMetadata['metatype']): boolean {
  return metatype !== undefined && Reflect.getMetadata(STRICT_BODY, metatype) === true;
}
