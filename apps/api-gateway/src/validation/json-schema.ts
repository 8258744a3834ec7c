import { isRecord } from './validators';

/*
 * A structural check of the JSON Schemas clients send as tool parameters and json_schema response formats.
 * Not a full meta-schema validation: it catches what makes providers reject a request (or, worse, accept it
 * and ignore the schema): a non-object, unknown `type` names, `properties` that are not schemas, `required`
 * that is not a list of property names.
 */

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
/** Deep enough for any real tool; bounds the work a hostile body can cause. */
const MAX_DEPTH = 32;

function typeProblem(type: unknown, at: string): string | null {
  const names = Array.isArray(type) ? type : [type];
  if (names.length === 0 || !names.every((t) => typeof t === 'string' && TYPES.has(t))) {
    return `${at}type must be one of ${[...TYPES].join(', ')} (or a list of them)`;
  }
  return null;
}

function childrenProblem(schema: Record<string, unknown>, at: string, depth: number): string | null {
  const { properties, required, items } = schema;
  if (properties !== undefined) {
    if (!isRecord(properties)) {
      return `${at}properties must be an object of schemas`;
    }
    for (const [name, child] of Object.entries(properties)) {
      const problem = schemaProblemAt(child, `${at}properties.${name}.`, depth + 1);
      if (problem !== null) {
        return problem;
      }
    }
  }
  if (required !== undefined) {
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) {
      return `${at}required must be a list of property names`;
    }
    const missing = isRecord(properties) ? required.find((r) => !(r in properties)) : undefined;
    if (missing !== undefined) {
      return `${at}required names '${missing}', which is not in properties`;
    }
  }
  if (items !== undefined && typeof items !== 'boolean') {
    return schemaProblemAt(items, `${at}items.`, depth + 1);
  }
  return null;
}

function schemaProblemAt(schema: unknown, at: string, depth: number): string | null {
  if (typeof schema === 'boolean') {
    return null;
  }
  if (!isRecord(schema)) {
    return `${at === '' ? 'the schema' : at.slice(0, -1)} must be a JSON Schema object`;
  }
  if (depth > MAX_DEPTH) {
    return `the schema is nested deeper than ${MAX_DEPTH} levels`;
  }
  if (schema.type !== undefined) {
    const problem = typeProblem(schema.type, at);
    if (problem !== null) {
      return problem;
    }
  }
  if (schema.enum !== undefined && !Array.isArray(schema.enum)) {
    return `${at}enum must be a list`;
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = schema[key];
    if (list === undefined) {
      continue;
    }
    if (!Array.isArray(list) || list.length === 0) {
      return `${at}${key} must be a non-empty list of schemas`;
    }
    for (let i = 0; i < list.length; i++) {
      const problem = schemaProblemAt(list[i], `${at}${key}[${i}].`, depth + 1);
      if (problem !== null) {
        return problem;
      }
    }
  }
  return childrenProblem(schema, at, depth);
}

/** What is wrong with `schema` as a JSON Schema, or null. `rootType` demands a top-level type (tools: object). */
export function jsonSchemaProblem(schema: unknown, rootType?: 'object'): string | null {
  if (!isRecord(schema)) {
    return 'must be a JSON Schema object';
  }
  if (rootType !== undefined && schema.type !== undefined && schema.type !== rootType) {
    return `must have type '${rootType}' at the top level`;
  }
  return schemaProblemAt(schema, '', 0);
}
