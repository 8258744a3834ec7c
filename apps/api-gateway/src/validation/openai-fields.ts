import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { jsonSchemaProblem } from './json-schema';
import { isRecord } from './validators';

/*
 * Validators for the OpenAI request fields whose shape is a union (tool_choice, response_format) or a map
 * (logit_bias, metadata). Each reports what is wrong in its message; the pipe names the field.
 */

/** OpenAI's rule for function and schema names. */
export const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * A tool call's id as a client sends it back: any characters but spaces. Long enough for an id carrying a Gemini
 * thought signature (libs/adapters gemini/thought-signature.ts: a few hundred to a few thousand characters).
 */
export const TOOL_CALL_ID = /^\S{1,16384}$/;
export const MAX_METADATA_PAIRS = 16;

/** One custom validator: `check` returns the problem (shown as `<field> <problem>`), or null when valid. */
function fieldValidator(name: string, check: (value: unknown) => string | null, options?: ValidationOptions) {
  return (target: object, propertyName: string | symbol): void => {
    const problems = new WeakMap<object, string>();
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          const problem = check(value);
          if (problem !== null) {
            problems.set(args.object, problem);
          }
          return problem === null;
        },
        defaultMessage(args: ValidationArguments): string {
          return `${args.property} ${problems.get(args.object) ?? 'is invalid'}`;
        },
      },
    });
  };
}

/**
 * OpenAI's `allowed_tools` tool choice: the model may call only the named functions, `auto` (or not at all) or
 * `required` (one of them).
 */
export interface AllowedToolsChoice {
  type: 'allowed_tools';
  allowed_tools: { mode: 'auto' | 'required'; tools: { type: 'function'; function: { name: string } }[] };
}

export function isAllowedToolsChoice(v: unknown): v is AllowedToolsChoice {
  return isRecord(v) && v.type === 'allowed_tools';
}

function allowedToolsProblem(v: Record<string, unknown>): string | null {
  const allowed = v.allowed_tools;
  if (!isRecord(allowed) || (allowed.mode !== 'auto' && allowed.mode !== 'required')) {
    return "of type allowed_tools needs allowed_tools: {mode: 'auto' or 'required', tools}";
  }
  const tools = allowed.tools;
  if (!Array.isArray(tools) || tools.length === 0) {
    return 'allowed_tools.tools must be a non-empty list of {type: function, function: {name}}';
  }
  for (const t of tools) {
    if (!isRecord(t) || t.type !== 'function' || !isRecord(t.function) || typeof t.function.name !== 'string') {
      return 'allowed_tools.tools must be a non-empty list of {type: function, function: {name}}';
    }
    if (!FUNCTION_NAME.test(t.function.name)) {
      return 'allowed_tools.tools names a function with an invalid name';
    }
  }
  return null;
}

export function toolChoiceProblem(v: unknown): string | null {
  if (v === 'none' || v === 'auto' || v === 'required') {
    return null;
  }
  if (isRecord(v) && v.type === 'function' && isRecord(v.function) && typeof v.function.name === 'string') {
    return FUNCTION_NAME.test(v.function.name) ? null : 'names a function with an invalid name';
  }
  if (isRecord(v) && v.type === 'allowed_tools') {
    return allowedToolsProblem(v);
  }
  return "must be 'none', 'auto', 'required', {type: 'function', function: {name}} or {type: 'allowed_tools', allowed_tools: {mode, tools}}";
}

export function responseFormatProblem(v: unknown): string | null {
  if (!isRecord(v)) {
    return 'must be an object';
  }
  switch (v.type) {
    case 'text':
    case 'json_object':
      return null;
    case 'json_schema': {
      const js = v.json_schema;
      if (!isRecord(js)) {
        return 'of type json_schema needs a json_schema object';
      }
      if (typeof js.name !== 'string' || !FUNCTION_NAME.test(js.name)) {
        return 'json_schema.name must be 1-64 letters, digits, _ or -';
      }
      if (js.strict !== undefined && js.strict !== null && typeof js.strict !== 'boolean') {
        return 'json_schema.strict must be a boolean';
      }
      if (js.description !== undefined && typeof js.description !== 'string') {
        return 'json_schema.description must be a string';
      }
      if (js.schema === undefined) {
        return null;
      }
      const problem = jsonSchemaProblem(js.schema);
      return problem === null ? null : `json_schema.schema ${problem}`;
    }
    default:
      return "type must be 'text', 'json_object' or 'json_schema'";
  }
}

function logitBiasProblem(v: unknown): string | null {
  if (!isRecord(v)) {
    return 'must be an object mapping token ids to biases';
  }
  for (const [token, bias] of Object.entries(v)) {
    if (!/^\d+$/.test(token)) {
      return `key '${token}' is not a token id`;
    }
    if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) {
      return `value for token ${token} must be a number from -100 to 100`;
    }
  }
  return null;
}

function metadataProblem(v: unknown): string | null {
  if (!isRecord(v)) {
    return 'must be an object of strings';
  }
  const entries = Object.entries(v);
  if (entries.length > MAX_METADATA_PAIRS) {
    return `must have at most ${MAX_METADATA_PAIRS} keys`;
  }
  for (const [key, value] of entries) {
    if (key.length > 64 || typeof value !== 'string' || value.length > 512) {
      return 'keys must be strings of at most 64 characters and values strings of at most 512';
    }
  }
  return null;
}

function toolParametersProblem(v: unknown): string | null {
  return jsonSchemaProblem(v, 'object');
}

export const IsToolChoice = (o?: ValidationOptions): PropertyDecorator =>
  fieldValidator('isToolChoice', toolChoiceProblem, o);
export const IsResponseFormat = (o?: ValidationOptions): PropertyDecorator =>
  fieldValidator('isResponseFormat', responseFormatProblem, o);
export const IsLogitBias = (o?: ValidationOptions): PropertyDecorator =>
  fieldValidator('isLogitBias', logitBiasProblem, o);
export const IsStringMap = (o?: ValidationOptions): PropertyDecorator =>
  fieldValidator('isStringMap', metadataProblem, o);
/** Function-tool parameters: a JSON Schema of an object. */
export const IsToolParameters = (o?: ValidationOptions): PropertyDecorator =>
  fieldValidator('isToolParameters', toolParametersProblem, o);
