import type { ArgumentMetadata } from '@nestjs/common';
import { JSONSchema } from 'class-validator-jsonschema';

/** The DTO classes marked `@StrictBody()`: a set lookup per body, no metadata walk up the prototype chain. */
const STRICT_BODIES = new WeakSet<object>();

/**
 * Marks a body DTO whose unknown fields are a 400 naming them, instead of being ignored: the admin and account
 * bodies, where a misspelt field (`allowedmodels`, `expiresat`) would otherwise quietly create an unrestricted,
 * never-expiring key. The OpenAI and Anthropic bodies stay lenient (SDKs send fields the gateway has no use for).
 * Also for a query DTO whose unknown parameter would widen what the request does (`DELETE /admin/cache?provider=x`
 * would otherwise clear every entry), and for those of the usage views, analytics and admin listings: a filter they do
 * not have (`/admin/usage?userId=`, `/admin/keys?user=`) was dropped and the answer given for every user or key, as
 * if it applied. Generation routes and the model listings stay lenient.
 */
export function StrictBody(): ClassDecorator {
  return (target) => {
    STRICT_BODIES.add(target);
    // The OpenAPI document says so too: a client validating against it refuses what the server would.
    JSONSchema({ additionalProperties: false })(target);
  };
}

export function isStrict(metatype: ArgumentMetadata['metatype']): boolean {
  return metatype !== undefined && STRICT_BODIES.has(metatype);
}
