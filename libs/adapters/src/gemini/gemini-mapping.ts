import {
  ErrorClass,
  ProviderCallError,
  dataUrlOf,
  mimeOfUrl,
  type ChatMessage,
  type ContentPart,
  type GenerationOptions,
  type JsonObject,
  type JsonValue,
  type ReasoningEffort,
  type ToolChoice,
  merged,
} from '@aigw/core';
import type { AdapterRequest } from '../types';
import { TOOL_RESULT_TEXT_SEPARATOR } from '../content/tool-result-text';
import { signatureOfId } from './thought-signature';

/** Gemini `Part`s we send. */
export type GeminiPart =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { mimeType: string; fileUri: string } }
  | { functionCall: { name: string; args: JsonObject }; thoughtSignature?: string }
  | { functionResponse: { name: string; response: JsonObject } };

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

/** A request Gemini's format cannot express; `param` is the field the client's 400 names when no family takes it. */
function invalid(message: string, param?: string): ProviderCallError {
  return new ProviderCallError(ErrorClass.InvalidRequest, message, { untranslatable: true, param });
}

/**
 * The keywords of Gemini's `Schema` (an OpenAPI 3.0 subset, v1beta). Google's JSON parser refuses any other
 * ("Invalid JSON payload received. Unknown name \"const\""), and JSON schemas as clients write them (Zod's, Pydantic's,
 * MCP servers' tool schemas) hold many: `$schema`, `additionalProperties`, `const`, `oneOf`, `exclusiveMinimum`,
 * `examples`... Such keywords are left out. `$ref` stays only where it cannot be inlined (see `geminiSchema`).
 */
const GEMINI_SCHEMA_KEYS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
  '$ref',
]);
/** Keywords whose value is data, not a schema: kept as written. */
const DATA_KEYWORDS = new Set(['default', 'example']);

function isObject(v: JsonValue): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Definitions a local `$ref` (`#/$defs/Name`, `#/definitions/Name`) points into. */
type Definitions = ReadonlyMap<string, JsonValue>;

function definitionsOf(schema: JsonValue): Definitions {
  const defs = new Map<string, JsonValue>();
  if (isObject(schema)) {
    for (const key of ['$defs', 'definitions']) {
      const table = schema[key];
      if (isObject(table)) {
        for (const [name, sub] of Object.entries(table)) {
          defs.set(`#/${key}/${name}`, sub);
        }
      }
    }
  }
  return defs;
}

/**
 * A JSON schema as Gemini's `Schema` object takes it (an OpenAPI subset): the keywords it does not know removed at
 * every depth, local `$ref`s inlined and `$defs` dropped (Pydantic nests models that way; Gemini has no references),
 * `type: [T, "null"]` written as `type: T, nullable: true`, `oneOf` as `anyOf`, a one-schema `allOf` as that schema under
 * the field's own keys and a `const` as an enum of one value (what Zod and Pydantic write for a literal); an enum as
 * `enumInto` says, and a `format` Gemini does not take for the type left out. Only keywords: a property named
 * `strict` or `additionalProperties` is the user's and stays, as do default values. A recursive reference cannot be
 * inlined and is left for Gemini to refuse.
 */
export function geminiSchema(schema: JsonValue): JsonValue {
  return toGemini(schema, definitionsOf(schema), new Set());
}

function toGemini(schema: JsonValue, defs: Definitions, resolving: ReadonlySet<string>): JsonValue {
  if (Array.isArray(schema)) {
    return schema.map((s) => toGemini(s, defs, resolving));
  }
  if (!isObject(schema)) {
    return schema;
  }
  // A local `$ref`, or what Pydantic writes for a described reference (`allOf: [{$ref}]`): the one schema inlined,
  // under the field's own keys (a description).
  const ref = schema.$ref;
  const inlined =
    typeof ref === 'string' && defs.has(ref) && !resolving.has(ref)
      ? { key: '$ref', target: toGemini(defs.get(ref) ?? {}, defs, new Set([...resolving, ref])) }
      : Array.isArray(schema.allOf) && schema.allOf.length === 1
        ? { key: 'allOf', target: toGemini(schema.allOf[0], defs, resolving) }
        : undefined;
  if (inlined !== undefined) {
    const siblings = Object.keys(schema).filter((k) => k !== inlined.key);
    if (siblings.length === 0 || !isObject(inlined.target)) {
      return inlined.target;
    }
    const rest: JsonObject = {};
    for (const k of siblings) {
      rest[k] = schema[k];
    }
    return Object.assign({}, inlined.target, toGemini(rest, defs, resolving) as JsonObject);
  }
  const out: JsonObject = {};
  let values: readonly JsonValue[] | undefined;
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'oneOf' && schema.anyOf === undefined) {
      out.anyOf = toGemini(value, defs, resolving);
    } else if (key === 'const' && schema.enum === undefined && value !== null) {
      values = [value];
    } else if (!GEMINI_SCHEMA_KEYS.has(key)) {
      continue;
    } else if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((t) => t !== 'null');
      out.type = types.length === 1 ? types[0] : types;
      if (types.length < value.length) {
        out.nullable = true;
      }
    } else if (key === 'enum' && Array.isArray(value)) {
      values = value;
    } else if (DATA_KEYWORDS.has(key)) {
      out[key] = value;
    } else if (
      (key === 'properties' && isObject(value) && Object.keys(value).length === 0) ||
      isEmptyRequired(key, value)
    ) {
      // `properties: {}` (an object without fields: an MCP tool without arguments, `z.object({})`) is refused ("should
      // be non-empty for OBJECT type"); left out, the object is the same. An empty `required` says nothing either.
      continue;
    } else if (key === 'properties' && isObject(value)) {
      const named: JsonObject = {};
      for (const [name, sub] of Object.entries(value)) {
        named[name] = toGemini(sub, defs, resolving);
      }
      out[key] = named;
    } else {
      out[key] = toGemini(value, defs, resolving);
    }
  }
  if (values !== undefined) {
    enumInto(values, out);
  }
  const format = out.format;
  const type = typeof out.type === 'string' ? out.type.toLowerCase() : undefined;
  if (format !== undefined && !(typeof format === 'string' && GEMINI_FORMATS[type ?? '']?.includes(format))) {
    // `email`, `uri`, `uuid`, `date` (Zod's .email(), Pydantic's HttpUrl) are refused by Gemini: left out.
    delete out.format;
  }
  return out;
}

function isEmptyRequired(key: string, value: JsonValue): boolean {
  return key === 'required' && Array.isArray(value) && value.length === 0;
}

/**
 * A tool's parameters as its declaration takes them: a schema that is a bare object (no fields, as `geminiSchema`
 * writes a tool without arguments) is left out, `parameters` being optional, as every Gemini client sends such a tool.
 */
function declaredParameters(parameters: JsonObject | undefined): JsonValue | undefined {
  if (parameters === undefined) {
    return undefined;
  }
  const schema = geminiSchema(parameters);
  const bare =
    isObject(schema) &&
    Object.keys(schema).every((k) => k === 'type') &&
    (schema.type === undefined || (typeof schema.type === 'string' && schema.type.toLowerCase() === 'object'));
  return bare ? undefined : schema;
}

/** The formats Gemini's `Schema` takes, by type; it refuses any other ("only 'enum' and 'date-time' are supported"). */
const GEMINI_FORMATS: Readonly<Record<string, readonly string[]>> = {
  string: ['enum', 'date-time'],
  number: ['float', 'double'],
  integer: ['int32', 'int64'],
};

/**
 * An enum (or a `const`) as Gemini's schema takes it: Gemini allows `enum` on strings only ("enum: only allowed for
 * STRING type"), so string values stay an enum (`type: string`), a `null` among them is `nullable`, and other values
 * (Pydantic's int enums, `const: true`) are named in the description instead, the type kept (or read off the values),
 * so the model still answers `1`, not `"1"`, and the client's own validation still passes.
 */
function enumInto(values: readonly JsonValue[], out: JsonObject): void {
  const present = values.filter((v) => v !== null);
  if (present.length < values.length) {
    out.nullable = true;
  }
  if (present.length === 0) {
    return;
  }
  const declared = typeof out.type === 'string' ? out.type.toLowerCase() : undefined;
  if (present.every((v) => typeof v === 'string') && (declared === undefined || declared === 'string')) {
    out.type = out.type ?? 'string';
    out.enum = present;
    return;
  }
  if (out.type === undefined) {
    const kind = valueTypeOf(present);
    if (kind !== undefined) {
      out.type = kind;
    }
  }
  const listed = `One of: ${present.map((v) => JSON.stringify(v)).join(', ')}.`;
  out.description = typeof out.description === 'string' ? `${out.description} ${listed}` : listed;
}

function valueTypeOf(values: readonly JsonValue[]): string | undefined {
  if (values.every((v) => typeof v === 'number' && Number.isInteger(v))) {
    return 'integer';
  }
  if (values.every((v) => typeof v === 'number')) {
    return 'number';
  }
  if (values.every((v) => typeof v === 'boolean')) {
    return 'boolean';
  }
  return undefined;
}

function partOf(part: ContentPart): GeminiPart {
  switch (part.type) {
    case 'text':
      return { text: part.text };
    case 'image_url': {
      const data = dataUrlOf(part.image_url.url);
      return data !== null
        ? { inlineData: { mimeType: data.mimeType, data: data.base64 } }
        : { fileData: { mimeType: mimeOfUrl(part.image_url.url), fileUri: part.image_url.url } };
    }
    case 'input_audio':
      return { inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } };
    case 'file': {
      const data = part.file.file_data === undefined ? null : dataUrlOf(part.file.file_data);
      if (data === null) {
        throw invalid('Gemini takes file parts only as file_data data URLs (data:<mime>;base64,...), not file_id');
      }
      return { inlineData: { mimeType: data.mimeType, data: data.base64 } };
    }
  }
}

function partsOf(content: ChatMessage['content']): GeminiPart[] {
  if (content === null) {
    return [];
  }
  if (typeof content === 'string') {
    return content.length > 0 ? [{ text: content }] : [];
  }
  return content.map(partOf);
}

/** The texts of a content; `separator` between parts (a tool result's go one per line, TOOL_RESULT_TEXT_SEPARATOR). */
function textOf(content: ChatMessage['content'], separator = ''): string {
  if (typeof content === 'string') {
    return content;
  }
  const texts: string[] = [];
  for (const p of content ?? []) {
    if (p.type === 'text') {
      texts.push(p.text);
    }
  }
  return texts.join(separator);
}

function argsOf(json: string, name: string): JsonObject {
  try {
    const v = JSON.parse(json === '' ? '{}' : json) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return v as JsonObject;
    }
  } catch {
    // reported below
  }
  throw invalid(`the arguments of tool call '${name}' are not a JSON object (Gemini needs one)`);
}

/** A tool result as Gemini's `functionResponse.response` (an object): the JSON object it is, else `{content}`. */
function responseOf(text: string): JsonObject {
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return v as JsonObject;
    }
  } catch {
    // plain text
  }
  return { content: text };
}

/**
 * Gemini wants strictly alternating turns and the results of parallel calls together in one turn: consecutive
 * messages of the same Gemini role are merged.
 */
function push(contents: GeminiContent[], role: GeminiContent['role'], parts: GeminiPart[]): void {
  if (parts.length === 0) {
    return;
  }
  const last = contents[contents.length - 1];
  if (last !== undefined && last.role === role) {
    last.parts.push(...parts);
  } else {
    contents.push({ role, parts });
  }
}

export interface GeminiPrompt {
  systemInstruction?: { parts: { text: string }[] };
  contents: GeminiContent[];
}

/** OpenAI-shaped messages → Gemini contents. Tool results are matched to their call's function name by id. */
export function toGeminiPrompt(messages: readonly ChatMessage[]): GeminiPrompt {
  const system: string[] = [];
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        system.push(textOf(m.content));
        break;
      case 'user':
        push(contents, 'user', partsOf(m.content));
        break;
      case 'assistant': {
        const parts = partsOf(m.content);
        for (const call of m.tool_calls ?? []) {
          callNames.set(call.id, call.function.name);
          const functionCall = { name: call.function.name, args: argsOf(call.function.arguments, call.function.name) };
          const thoughtSignature = signatureOfId(call.id);
          parts.push(thoughtSignature === undefined ? { functionCall } : { functionCall, thoughtSignature });
        }
        push(contents, 'model', parts);
        break;
      }
      case 'tool': {
        const name = callNames.get(m.tool_call_id ?? '') ?? m.name;
        if (name === undefined) {
          throw invalid(
            `tool message '${m.tool_call_id ?? ''}' answers no earlier tool call (Gemini needs the function name)`,
          );
        }
        // A functionResponse holds text only: the result's images and files (a screenshot tool's) follow it as parts.
        const media = Array.isArray(m.content) ? m.content.filter((p) => p.type !== 'text').map(partOf) : [];
        // Gemini reads a failed call from the response's `error` key (its documented convention), the rest as output.
        const text = textOf(m.content, TOOL_RESULT_TEXT_SEPARATOR);
        const response = m.is_error === true ? { error: text } : responseOf(text);
        push(contents, 'user', [{ functionResponse: { name, response } }, ...media]);
        break;
      }
    }
  }
  const prompt: GeminiPrompt = { contents };
  const instruction = system.filter((s) => s.length > 0).join('\n\n');
  if (instruction.length > 0) {
    prompt.systemInstruction = { parts: [{ text: instruction }] };
  }
  return prompt;
}

/**
 * The stand-in signature Google documents for function calls no Gemini made, "transferring a trace from a different
 * model" or calls a client wrote (ai.google.dev/gemini-api/docs/thought-signatures, FAQ; Vertex AI takes this one of
 * the two), sent as gemini-cli sends it.
 */
export const FOREIGN_CALL_SIGNATURE = 'skip_thought_signature_validator';

/** A Gemini API model of major version 3 or later (`gemini-3-pro-preview`, `models/gemini-3.1-flash`). */
const GEMINI_3_OR_LATER = /^(?:models\/)?gemini-(\d+)(?:[.-]|$)/i;

function validatesSignatures(model: string): boolean {
  const m = GEMINI_3_OR_LATER.exec(model);
  return m !== null && Number(m[1]) >= 3;
}

/**
 * Gemini 3 answers 400 ("Function call is missing a thought_signature in functionCall parts") when the first function
 * call of a model turn in the current turn (the turns after the last user message with text) has no signature: a
 * conversation begun on another family, whose calls Gemini never signed, or a history a client wrote, fails on every
 * Gemini 3 deployment. Such a call gets Google's stand-in (FOREIGN_CALL_SIGNATURE), as gemini-cli gives it; Gemini's
 * own signatures go back as they came, and parallel calls after the first, which Gemini leaves unsigned, stay so. Older
 * models validate none: their history is sent as it is. One pass over the contents, only for a Gemini 3 model.
 */
function signForeignCalls(contents: GeminiContent[]): void {
  let start = contents.length;
  while (start > 0 && !(contents[start - 1].role === 'user' && contents[start - 1].parts.some((p) => 'text' in p))) {
    start--;
  }
  if (start === 0) {
    return;
  }
  for (const content of contents.slice(start)) {
    if (content.role !== 'model') {
      continue;
    }
    const first = content.parts.findIndex((p) => 'functionCall' in p);
    const part = content.parts[first];
    if (part !== undefined && 'functionCall' in part && part.thoughtSignature === undefined) {
      content.parts[first] = { functionCall: part.functionCall, thoughtSignature: FOREIGN_CALL_SIGNATURE };
    }
  }
}

function toolConfigOf(choice: ToolChoice | undefined): JsonObject | undefined {
  if (choice === undefined) {
    return undefined;
  }
  if (typeof choice === 'object') {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  const mode = choice === 'none' ? 'NONE' : choice === 'required' ? 'ANY' : 'AUTO';
  return { functionCallingConfig: { mode } };
}

/**
 * Google's own mapping of `reasoning_effort` to `thinkingBudget` (its OpenAI-compatible endpoint's: low 1,024,
 * medium 8,192, high 24,576; `none` is 0, which turns thinking off where the model allows it, see `leastThinking`).
 * A budget the client named (`/v1/messages`) goes as it is. Thought summaries are asked for, so the answer carries its
 * reasoning as the other families' do.
 */
const THINKING_BUDGET: { readonly [E in ReasoningEffort]: number } = {
  none: 0,
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 24576,
};

/** `gemini-2.5-pro`, `models/gemini-3-pro-preview`, `gemini-3.1-flash-lite`: the version and the tier. */
const GEMINI_MODEL = /^(?:models\/)?gemini-(\d+(?:\.\d+)?)-(pro|flash)/i;

/**
 * The least thinking a model takes, for `reasoning_effort: "none"`. Budget 0 turns thinking off on 2.5 Flash and
 * Flash-Lite; 2.5 Pro and Gemini 3 Pro cannot turn it off and refuse 0 with a 400 ("Budget 0 is invalid. This model
 * only works in thinking mode"), a refusal the client did not cause. 2.5 Pro's least budget is 128; Gemini 3 takes a
 * `thinkingLevel` (not with a budget): `minimal` on Flash, `low` (the least Pro takes) otherwise. Other models (a
 * name the pattern does not know) keep 0, as before.
 */
function leastThinking(model: string): JsonObject {
  const m = GEMINI_MODEL.exec(model);
  if (m === null) {
    return { thinkingBudget: 0 };
  }
  const version = Number(m[1]);
  const pro = m[2].toLowerCase() === 'pro';
  if (version >= 3) {
    return { thinkingLevel: pro ? 'low' : 'minimal' };
  }
  return version >= 2.5 && pro ? { thinkingBudget: 128 } : { thinkingBudget: 0 };
}

function thinkingConfigOf(o: GenerationOptions, model: string): JsonObject | undefined {
  const effort = o.reasoningEffort;
  if (effort === undefined) {
    return undefined;
  }
  if (effort === 'none' && o.reasoningBudget === undefined) {
    return leastThinking(model);
  }
  // Adaptive thinking (`/v1/messages`): Gemini's dynamic budget (-1), with which the model decides how much to think.
  const budget = o.adaptiveThinking === true && effort !== 'none' ? -1 : (o.reasoningBudget ?? THINKING_BUDGET[effort]);
  return budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
}

/** The `generateContent` / `streamGenerateContent` body (the model goes in the URL). */
export function geminiBody(req: AdapterRequest): string {
  const o = req.options;
  const format = o.responseFormat;
  const generationConfig = {
    temperature: o.temperature,
    topP: o.topP,
    topK: o.topK,
    maxOutputTokens: o.maxTokens,
    stopSequences: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
    seed: o.seed,
    presencePenalty: o.presencePenalty,
    frequencyPenalty: o.frequencyPenalty,
    // OpenAI's `logprobs` / `top_logprobs` (0 to 20, Gemini's range too); the count only with log probabilities on.
    responseLogprobs: o.logprobs,
    logprobs: o.logprobs === true ? o.topLogprobs : undefined,
    responseMimeType: format === undefined || format.type === 'text' ? undefined : 'application/json',
    responseSchema:
      format?.type === 'json_schema' && format.json_schema.schema !== undefined
        ? geminiSchema(format.json_schema.schema)
        : undefined,
    thinkingConfig: thinkingConfigOf(o, req.target.model),
  };
  const tools =
    o.tools !== undefined && o.tools.length > 0
      ? [
          {
            functionDeclarations: o.tools.map((t) => ({
              name: t.function.name,
              description: t.function.description,
              parameters: declaredParameters(t.function.parameters),
            })),
          },
        ]
      : undefined;
  const prompt = toGeminiPrompt(req.messages);
  if (validatesSignatures(req.target.model)) {
    signForeignCalls(prompt.contents);
  }
  if (prompt.contents.length === 0) {
    // OpenAI answers a system prompt alone, or an empty message; Gemini needs contents. Refused before sending, so
    // routing can move on to a family that takes it, and the 400 names the field when none does.
    throw invalid(
      'Gemini needs a user or assistant message with content (the request has a system prompt alone, or empty messages)',
      'messages',
    );
  }
  return JSON.stringify(
    merged(prompt, {
      tools,
      toolConfig: tools === undefined ? undefined : toolConfigOf(o.toolChoice),
      generationConfig,
    }),
  );
}
