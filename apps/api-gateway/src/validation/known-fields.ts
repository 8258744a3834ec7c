import type { GatewayError } from '@aigw/core';
import { defaultMetadataStorage as transformerMetadata } from 'class-transformer/cjs/storage';
import { getMetadataStorage } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { invalidParam } from './validation-errors';
import { isRecord } from './validators';

/** The DTO classes marked `@KnownFieldsOnly()`: a set lookup, no metadata walk. */
const CLOSED = new WeakSet<object>();

/**
 * Marks a DTO class whose unknown fields are a 400 naming them (`options.max_tokens`), where the class appears in
 * a body: the native request, whose clients are ours to teach, and where a field ignored costs money (a limit
 * spelt `max_tokens` bought the whole answer). Unlike `@StrictBody()` it closes this class only, not the classes
 * nested in it (the native `messages` are OpenAI's, which SDKs fill with fields the gateway has no use for), and
 * the fast path keeps accepting valid bodies: it refuses a body with an unknown field, which then takes the usual
 * path, where RequestValidationPipe words the error.
 */
export function KnownFieldsOnly(): ClassDecorator {
  return (target) => {
    CLOSED.add(target);
    // The OpenAPI document says so too.
    JSONSchema({ additionalProperties: false })(target);
  };
}

export function isKnownFieldsOnly(ctor: unknown): boolean {
  return typeof ctor === 'function' && CLOSED.has(ctor);
}

/** A class's fields and the classes its `@Type` fields hold, as far as they lead to a closed class. */
interface FieldPlan {
  closed: boolean;
  known: ReadonlySet<string>;
  nested: ReadonlyMap<string, FieldPlan>;
}

const plans = new Map<unknown, FieldPlan | null>();

/** null: neither the class nor anything nested in it is closed, there is nothing to check (a cycle is cut). */
function planOf(ctor: unknown, visiting = new Set<unknown>()): FieldPlan | null {
  if (plans.has(ctor)) {
    return plans.get(ctor) ?? null;
  }
  if (typeof ctor !== 'function' || visiting.has(ctor)) {
    return null;
  }
  visiting.add(ctor);
  const known = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(ctor, '', false, false)
      .map((m) => m.propertyName),
  );
  const nested = new Map<string, FieldPlan>();
  for (const field of known) {
    const type = transformerMetadata.findTypeMetadata(ctor, field);
    const target: unknown = type?.typeFunction ? type.typeFunction() : undefined;
    const plan = target === undefined ? null : planOf(target, visiting);
    if (plan !== null) {
      nested.set(field, plan);
    }
  }
  visiting.delete(ctor);
  const plan = CLOSED.has(ctor) || nested.size > 0 ? { closed: CLOSED.has(ctor), known, nested } : null;
  plans.set(ctor, plan);
  return plan;
}

function camelCaseOf(name: string): string {
  return name.replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function firstUnknown(plan: FieldPlan, value: unknown, at: string): { param: string; hint: string | null } | null {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = firstUnknown(plan, item, `${at}[${i}]`);
      if (found !== null) {
        return found;
      }
    }
    return null;
  }
  if (!isRecord(value)) {
    return null;
  }
  for (const key of Object.keys(value)) {
    const param = at === '' ? key : `${at}.${key}`;
    if (plan.closed && !plan.known.has(key)) {
      const camel = camelCaseOf(key);
      return { param, hint: camel !== key && plan.known.has(camel) ? camel : null };
    }
    const child = plan.nested.get(key);
    const found = child === undefined ? null : firstUnknown(child, value[key], param);
    if (found !== null) {
      return found;
    }
  }
  return null;
}

/**
 * The 400 for the first unknown field of a closed class in `body` (`options.max_tokens`), with the field meant when
 * it is a snake_case spelling of one (`maxTokens`); null when there is none. Only the usual (slow) path calls this.
 */
export function unknownFieldError(metatype: unknown, body: unknown): GatewayError | null {
  const plan = planOf(metatype);
  const found = plan === null ? null : firstUnknown(plan, body, '');
  if (found === null) {
    return null;
  }
  const hint = found.hint === null ? '' : ` (this API spells it '${found.hint}')`;
  return invalidParam(found.param, `no such field${hint}`);
}
