/*
 * The fast path reproduces what the usual one (class-transformer, then class-validator) makes of a body.
 * Anything it is not sure to reproduce exactly it REFUSEs, and the body takes the usual path.
 */

/** What the fast path returns for anything it does not positively accept. */
export const REFUSE: unique symbol = Symbol('refuse');

/** Deeper than any real body; deeper ones take the usual path, whose recursion is what they meet today. */
export const MAX_DEPTH = 64;

/**
 * Keys class-transformer leaves out of the copy of an object (`__proto__`, `constructor`, the other names of
 * Object.prototype) or that Nest's pipe deletes from the body before (`prototype`): an object holding one
 * is not copied here, so the body keeps what the usual path does to it.
 */
const DROPPED_KEYS: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** An object as JSON.parse makes it (not a Date, Buffer or null-prototype object, which are copied differently). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

export function isPlainArray(v: unknown): v is unknown[] {
  return Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype;
}

/** A JSON array's items through `item`, into a new array; REFUSE when one is refused (or is a gap). */
export function mapItems(items: readonly unknown[], item: (v: unknown) => unknown): unknown[] | typeof REFUSE {
  const out: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    const v = items[i];
    const copy = v === undefined ? REFUSE : item(v);
    if (copy === REFUSE) {
      return REFUSE;
    }
    out.push(copy);
  }
  return out;
}

/** The copy class-transformer makes of a value with no @Type: new arrays and objects, the same primitives. */
export function copyJson(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'object':
      break;
    case 'undefined': // a gap, or no JSON at all
    case 'bigint':
    case 'function':
    case 'symbol':
      return REFUSE;
  }
  if (value === null) {
    return null;
  }
  if (depth > MAX_DEPTH) {
    return REFUSE;
  }
  if (isPlainArray(value)) {
    return mapItems(value, (v) => copyJson(v, depth + 1));
  }
  if (!isPlainObject(value)) {
    return REFUSE;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (DROPPED_KEYS.has(key)) {
      return REFUSE;
    }
    const copy = copyJson(value[key], depth + 1);
    if (copy === REFUSE) {
      return REFUSE;
    }
    out[key] = copy;
  }
  return out;
}
