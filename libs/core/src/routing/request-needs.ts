import type { Capability, Deployment, ProviderKind } from '../catalog';
import type { GenerationOptions, GenerationRequest } from '../domain';
import { dataUrlOf, isDataUrl } from '../data-url';
import {
  ASSISTANT_PREFILL_PARAM,
  DOCUMENT_MEDIA_TYPES,
  familySupportsParam,
  FILE_ID_PARAM,
  MANY_STOPS_PARAM,
  MAX_OPENAI_STOP_SEQUENCES,
  OTHER_FILE_TYPE_PARAM,
  REMOTE_IMAGE_PARAM,
  STANDARD_TIER_PARAM,
  TOKEN_INPUT_PARAM,
} from '../provider-families';

/**
 * What a request asks of a deployment beyond "chat": capabilities (from the catalog) and the request fields
 * whose honouring depends on the provider family. Computed once per request from plain data, no I/O.
 */
export interface RequestNeeds {
  /** Capabilities the request needs, in a fixed order (`tools`, `vision`, `json`). */
  capabilities: Capability[];
  /**
   * Request fields (OpenAI names, e.g. `logit_bias`, or a pass-through field's own name) that only some
   * provider families can honour. A family that cannot take one is not a candidate: never dropped silently.
   */
  params: string[];
  /**
   * JSON mode (`response_format` other than text) together with tool declarations (`tools`): a combination Gemini
   * models before 3 refuse (see `refusesJsonWithTools`). Set only when true.
   */
  jsonWithTools?: true;
  /**
   * `temperature` and `top_p` both set to values that change the sampling (`samplesWithBoth`), which Claude models
   * from Opus 4.1 on refuse together (see `refusesTemperatureWithTopP`). Set only when true.
   */
  temperatureWithTopP?: true;
  /** The first offered tool whose name Gemini refuses (see `refusesToolName`). Set only when there is one. */
  toolName?: { index: number; name: string };
}

/**
 * Gemini's rule for function declaration names: a letter or an underscore first, then letters, digits, `_ . : -`, 64
 * at most. OpenAI's and Anthropic's rule, which the gateway checks every tool name against (1 to 64 of
 * `a-z A-Z 0-9 _ -`), also takes a digit or a `-` first: such a name (`1lookup`) is served by the other families only.
 */
const GEMINI_FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/** The error `param` naming the offered tool at `index` (of the request's `options.tools`) by its name. */
export function toolNameParam(index: number): string {
  return `tools[${index}].function.name`;
}

const TOOL_NAME_PARAM = /^tools\[(\d+)\]\.function\.name$/;

/** The index of the offered tool a `toolNameParam` names; undefined for any other param. */
export function toolIndexOfParam(param: string): number | undefined {
  const m = TOOL_NAME_PARAM.exec(param);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Families whose adapter implements `embed` (OpenAI-compatible `/embeddings`, Gemini `batchEmbedContents`, Ollama
 * `/api/embed`), and plugins, whose module may: a plugin deployment declaring `embeddings` loads only when its module
 * implements `embed` (AdapterRegistry.loadPlugins), so the capability stands for it. Anthropic and TGI cannot.
 */
const EMBEDDING_FAMILIES: ReadonlySet<ProviderKind> = new Set<ProviderKind>(['openai', 'gemini', 'ollama', 'plugin']);

export function embedsWith(kind: ProviderKind): boolean {
  return EMBEDDING_FAMILIES.has(kind);
}

/** Whether a provider family honours a provider-dependent request field (see PROVIDER_FAMILIES). */
export function supportsParam(kind: ProviderKind, param: string): boolean {
  return familySupportsParam(kind, param);
}

/** A Gemini API model name (`gemini-2.5-flash`, `models/gemini-2.0-flash-001`) with a major version before 3. */
const GEMINI_BEFORE_3 = /^(?:models\/)?gemini-[12](?:\.\d+)?-/i;

/**
 * Whether a deployment refuses JSON mode together with function declarations: the Gemini API answers 400 ("Function
 * calling with a response mime type: 'application/json' is unsupported") for models before Gemini 3, which take
 * both. Told by the upstream model name; a name without a version (`gemini-flash-latest`, a tuned model) is let
 * through, the provider's word deciding.
 */
export function refusesJsonWithTools(d: Deployment): boolean {
  return d.provider.kind === 'gemini' && GEMINI_BEFORE_3.test(d.model.upstreamName ?? d.model.name);
}

/**
 * A Claude model id of the family-first naming (`claude-sonnet-4-5`, `claude-opus-4-1-20250805`), also inside a Bedrock
 * or Vertex name (`anthropic.claude-sonnet-4-5-20250929-v1:0`, `claude-sonnet-4-5@20250929`) or a proxy's
 * (`anthropic/claude-sonnet-4.5`): its major version, and its minor one when one or two digits follow (a date after
 * the major, `claude-sonnet-4-20250514`, is no minor: 4.0).
 */
const CLAUDE_VERSION = /(?:^|[^a-z0-9])claude-(?:opus|sonnet|haiku)-(\d{1,2})(?:[-.](\d{1,2})(?!\d))?/i;

/**
 * Whether a Claude model takes only one of `temperature` and `top_p`: Anthropic answers 400 ("`temperature` and
 * `top_p` cannot both be specified for this model") from Claude Opus 4.1 and the 4.5 generation on (4.1 and above,
 * any later major version), through Bedrock, Vertex or LiteLLM alike; Claude 3.x and the 4.0 models take both. Told
 * by the model id; a name without a version (`claude-sonnet-latest`, an operator's own alias) is sent both, the
 * provider's word deciding. One regular-expression test of a short string, run only for a request that sets both.
 */
export function takesOneSamplingField(model: string): boolean {
  const m = CLAUDE_VERSION.exec(model);
  if (m === null) {
    return false;
  }
  const major = Number(m[1]);
  return major > 4 || (major === 4 && m[2] !== undefined && Number(m[2]) >= 1);
}

/**
 * `temperature` and `top_p` as a model that takes only one of them gets them (`takesOneSamplingField`): a value that
 * changes nothing is left out, a `top_p` of 1 (no nucleus cut) beside a temperature, else a `temperature` of 1
 * (Anthropic's default) beside a `top_p` below 1, so the `temperature: 0.2, top_p: 1` many OpenAI clients send
 * (LangChain's default `top_p`) is served as asked. Both meaningful come back both: such a request is not this
 * model's to serve (`samplesWithBoth`).
 */
export function oneSamplingFieldOf(
  temperature: number | undefined,
  topP: number | undefined,
): { temperature?: number; topP?: number } {
  if (temperature === undefined || topP === undefined) {
    return { temperature, topP };
  }
  if (topP >= 1) {
    return { temperature };
  }
  return temperature === 1 ? { topP } : { temperature, topP };
}

/** Whether a request sets `temperature` and `top_p` both to values that change the sampling (see oneSamplingFieldOf). */
export function samplesWithBoth(o: Pick<GenerationOptions, 'temperature' | 'topP'>): boolean {
  return o.temperature !== undefined && o.topP !== undefined && o.temperature !== 1 && o.topP < 1;
}

/**
 * Whether a deployment refuses a request that sets both `temperature` and `top_p` (`samplesWithBoth`): a Claude one
 * whose upstream model takes only one (`takesOneSamplingField`), on either route (LiteLLM passes both on to Claude).
 */
export function refusesTemperatureWithTopP(d: Deployment): boolean {
  return d.provider.kind === 'anthropic' && takesOneSamplingField(d.model.upstreamName ?? d.model.name);
}

/**
 * Whether a deployment refuses a tool name starting with a digit or a `-` (see `GEMINI_FUNCTION_NAME`): the Gemini
 * API does; every other family takes OpenAI's rule, and a plugin's translation is the operator's word.
 */
export function refusesToolName(d: Deployment): boolean {
  return d.provider.kind === 'gemini';
}

/**
 * Request fields by their OpenAI name and `GenerationOptions` key; a static table, not one built per request.
 * `user` (Anthropic's `metadata.user_id`) is not among them: it names the end user for the provider's abuse
 * monitoring and changes no answer, so a family without such a field serves the request without it. Clients send
 * it on every request (Claude Code does), and refusing it would keep them from every family but two. Nor is OpenAI's
 * `metadata`, tags for filtering stored completions (Claude's `metadata` holds only the end user's id, no tags): it
 * changes no answer either, and `store: true`, which stores the completion, keeps the request to the OpenAI family.
 */
const PROVIDER_DEPENDENT_OPTIONS: readonly (readonly [string, keyof GenerationOptions])[] = [
  ['parallel_tool_calls', 'parallelToolCalls'],
  ['seed', 'seed'],
  ['presence_penalty', 'presencePenalty'],
  ['frequency_penalty', 'frequencyPenalty'],
  ['logit_bias', 'logitBias'],
  ['logprobs', 'logprobs'],
  ['top_logprobs', 'topLogprobs'],
  ['reasoning_effort', 'reasoningEffort'],
  ['top_k', 'topK'],
];

/**
 * Pass-through fields that, like `user`, change no answer: OpenAI's replacements for `user` (its SDKs mark `user`
 * deprecated for them), `safety_identifier` (who asked, for abuse monitoring) and `prompt_cache_key` (a prompt-cache
 * bucket). The OpenAI family gets them as sent; the other families serve the request without them (Anthropic takes
 * `safety_identifier` as its `metadata.user_id` when `user` is not set), never refusing a client that sends them.
 */
export const ANSWER_NEUTRAL_FIELDS: ReadonlySet<string> = new Set(['safety_identifier', 'prompt_cache_key']);

const BLANK = /^\s*$/;

/** A stop sequence of whitespace only (`"\n"`), which Anthropic refuses and the other families stop at. */
export function isBlankStop(stop: string): boolean {
  return BLANK.test(stop);
}

/**
 * The finer field a file part needs beyond `file`: FILE_ID_PARAM without inline data, OTHER_FILE_TYPE_PARAM for data
 * other than a PDF or plain text. Reads the data URL's header only (a bounded parse, see `dataUrlOf`).
 */
function fileParamOf(file: { file_data?: string }): string | undefined {
  if (file.file_data === undefined) {
    return FILE_ID_PARAM;
  }
  const data = dataUrlOf(file.file_data);
  return data !== null && DOCUMENT_MEDIA_TYPES.has(data.mimeType) ? undefined : OTHER_FILE_TYPE_PARAM;
}

export function requestNeedsOf(
  request: Pick<GenerationRequest, 'messages' | 'options'> & Partial<Pick<GenerationRequest, 'embeddings'>>,
): RequestNeeds {
  const o = request.options;
  let tools = (o.tools?.length ?? 0) > 0;
  let vision = false;
  const params = new Set<string>();
  for (const m of request.messages) {
    // A conversation that already holds tool calls needs a model that understands them.
    if (m.role === 'tool' || (m.tool_calls?.length ?? 0) > 0) {
      tools = true;
    }
    if (Array.isArray(m.content)) {
      for (const part of m.content) {
        if (part.type === 'image_url') {
          vision = true;
          // Anything but a data URL is an image to fetch (the gateway refused any other than http(s)).
          if (!isDataUrl(part.image_url.url)) {
            params.add(REMOTE_IMAGE_PARAM);
          }
        } else if (part.type === 'input_audio') {
          params.add(part.type);
        } else if (part.type === 'file') {
          params.add(part.type);
          const fileParam = fileParamOf(part.file);
          if (fileParam !== undefined) {
            params.add(fileParam);
          }
        }
      }
    }
  }
  const json = o.responseFormat !== undefined && o.responseFormat.type !== 'text';
  if (json) {
    // Beyond the capability: the Anthropic adapter has no JSON mode to translate it to.
    params.add('response_format');
  }
  const capabilities: Capability[] = [];
  if (tools) {
    capabilities.push('tools');
  }
  if (vision) {
    capabilities.push('vision');
  }
  if (json) {
    capabilities.push('json');
  }
  // Forcing a call needs a family that can force one (Ollama and TGI cannot); `auto` and `none` every family honours.
  if (o.toolChoice === 'required' || typeof o.toolChoice === 'object') {
    params.add('tool_choice');
  }
  for (const [name, key] of PROVIDER_DEPENDENT_OPTIONS) {
    if (o[key] !== undefined) {
      params.add(name);
    }
  }
  if (o.reasoningEffort === 'none') {
    // No reasoning asked for: every family serves that (those that reason are told so, the others never reason).
    params.delete('reasoning_effort');
  }
  // OpenAI takes temperatures up to 2, Anthropic's Messages API up to 1: above 1 is a field only some families take.
  if (o.temperature !== undefined && o.temperature > 1) {
    params.add('temperature');
  }
  // Anthropic refuses a stop sequence of whitespace only (`"\n"`, common in completion-style prompts); the others stop at it.
  if (o.stop !== undefined && o.stop.some(isBlankStop)) {
    params.add('stop');
  }
  // More stop sequences than OpenAI's chat API takes (`/v1/messages` sets no limit): the families that take them.
  if (o.stop !== undefined && o.stop.length > MAX_OPENAI_STOP_SEQUENCES) {
    params.add(MANY_STOPS_PARAM);
  }
  // Anthropic's `standard_only` tier: only Claude can be told it (`auto`, each provider's default, every family serves).
  if (o.anthropicServiceTier === 'standard_only') {
    params.add(STANDARD_TIER_PARAM);
  }
  // A prefill to continue (`/v1/messages`): only the families that continue a final assistant message take it.
  if (o.assistantPrefill === true) {
    params.add(ASSISTANT_PREFILL_PARAM);
  }
  // Token ids to embed: the OpenAI-compatible family only. The inputs of one request are all of one kind (the gateway
  // refuses a mix, as OpenAI does), so the first tells.
  const firstInput = request.embeddings?.input[0];
  if (firstInput !== undefined && typeof firstInput !== 'string') {
    params.add(TOKEN_INPUT_PARAM);
  }
  for (const key of Object.keys(o.extra ?? {})) {
    if (!ANSWER_NEUTRAL_FIELDS.has(key)) {
      params.add(key);
    }
  }
  // One regular-expression test per offered tool; nothing for a request without tools.
  const badName = o.tools?.findIndex((t) => !GEMINI_FUNCTION_NAME.test(t.function.name)) ?? -1;
  const needs: RequestNeeds = { capabilities, params: [...params] };
  if (json && (o.tools?.length ?? 0) > 0) {
    needs.jsonWithTools = true;
  }
  if (samplesWithBoth(o)) {
    needs.temperatureWithTopP = true;
  }
  if (badName >= 0 && o.tools !== undefined) {
    needs.toolName = { index: badName, name: o.tools[badName].function.name };
  }
  return needs;
}
