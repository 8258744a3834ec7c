import type { Capability, Deployment, ModelSpec, ProviderSpec } from '../catalog';
import { ErrorCode } from '../errors';
import { MANY_STOPS_PARAM, STANDARD_TIER_PARAM } from '../provider-families';
import { filterCandidates, pinnedIdOf, selectionError, type CandidateNeed } from './candidates';
import { requestNeedsOf, supportsParam, takesOneSamplingField } from './request-needs';

function deployment(
  providerId: string,
  modelName: string,
  model: Partial<Omit<ModelSpec, 'name'>> = {},
  provider: Partial<Omit<ProviderSpec, 'id' | 'models'>> = {},
): Deployment {
  const m: ModelSpec = {
    name: modelName,
    contextWindow: 128_000,
    capabilities: ['chat', 'streaming'] as Capability[],
    enabled: true,
    promptPer1k: 1,
    completionPer1k: 1,
    ...model,
  };
  const p: ProviderSpec = {
    id: providerId,
    kind: 'openai',
    baseUrl: 'http://127.0.0.1:1',
    enabled: true,
    timeoutMs: 30_000,
    maxConnections: 10,
    routing: 'direct',
    ...provider,
    models: [m],
  };
  return { id: `${providerId}/${modelName}`, provider: p, model: m };
}

const ids = (ds: readonly Deployment[]): string[] => ds.map((d) => d.id);
const neverOpen = (): boolean => false;
const need = (model: string, extra: Partial<CandidateNeed> = {}): CandidateNeed => ({
  model,
  stream: false,
  estimatedTokens: 100,
  ...extra,
});

const catalog: Deployment[] = [
  deployment('openai', 'gpt-4o'),
  deployment('azure', 'gpt-4o'),
  deployment('openai', 'gpt-4o-mini', { contextWindow: 16_000 }),
  deployment('openai', 'text-embedding-3-small', { capabilities: [] }),
  deployment('hf', 'meta-llama/Llama-3-8B', { capabilities: ['chat'], contextWindow: 8_000 }),
  deployment('old', 'gpt-4o', {}, { enabled: false }),
  deployment('openai', 'retired', { enabled: false }),
];

describe('filterCandidates: model resolution', () => {
  it.each(['auto', 'cheapest', 'fastest', 'best'])('alias %s ranges over every enabled chat deployment', (alias) => {
    const sel = filterCandidates(catalog, need(alias), neverOpen);
    expect(sel.target).toEqual({ kind: 'alias', alias });
    expect(ids(sel.candidates)).toEqual([
      'openai/gpt-4o',
      'azure/gpt-4o',
      'openai/gpt-4o-mini',
      'hf/meta-llama/Llama-3-8B',
    ]);
    // The embedding model is not a chat deployment: not a candidate, and not "excluded" noise either.
    expect(sel.excluded).toEqual([
      { deploymentId: 'old/gpt-4o', reason: 'disabled' },
      { deploymentId: 'openai/retired', reason: 'disabled' },
    ]);
    expect(sel.failure).toBeNull();
  });

  it('a model name ranges over the deployments serving it', () => {
    const sel = filterCandidates(catalog, need('gpt-4o'), neverOpen);
    expect(sel.target).toEqual({ kind: 'model', model: 'gpt-4o' });
    expect(ids(sel.candidates)).toEqual(['openai/gpt-4o', 'azure/gpt-4o']);
    expect(sel.excluded).toEqual([{ deploymentId: 'old/gpt-4o', reason: 'disabled' }]);
  });

  it('provider/model pins one deployment', () => {
    const sel = filterCandidates(catalog, need('azure/gpt-4o'), neverOpen);
    expect(sel.target).toEqual({ kind: 'pinned', deploymentId: 'azure/gpt-4o', provider: 'azure', model: 'gpt-4o' });
    expect(ids(sel.candidates)).toEqual(['azure/gpt-4o']);
    expect(pinnedIdOf(sel.target)).toBe('azure/gpt-4o');
    expect(pinnedIdOf(filterCandidates(catalog, need('gpt-4o'), neverOpen).target)).toBeNull();
  });

  it('a pin with fallback keeps the pinned deployment first, then the others serving the model', () => {
    const sel = filterCandidates(catalog, need('azure/gpt-4o', { allowFallback: true }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['azure/gpt-4o', 'openai/gpt-4o']);
  });

  it('a pin with fallback still serves the model when the pinned deployment is circuit-open', () => {
    const sel = filterCandidates(catalog, need('azure/gpt-4o', { allowFallback: true }), (id) => id === 'azure/gpt-4o');
    expect(ids(sel.candidates)).toEqual(['openai/gpt-4o']);
    expect(sel.excluded).toContainEqual({ deploymentId: 'azure/gpt-4o', reason: 'circuit_open' });
  });

  it('model names holding slashes resolve both plain and pinned', () => {
    expect(ids(filterCandidates(catalog, need('meta-llama/Llama-3-8B'), neverOpen).candidates)).toEqual([
      'hf/meta-llama/Llama-3-8B',
    ]);
    const pinned = filterCandidates(catalog, need('hf/meta-llama/Llama-3-8B'), neverOpen);
    expect(pinned.target.kind).toBe('pinned');
    expect(ids(pinned.candidates)).toEqual(['hf/meta-llama/Llama-3-8B']);
  });

  it('an unknown prefix is part of the model name, not a provider', () => {
    const sel = filterCandidates(catalog, need('nope/gpt-4o'), neverOpen);
    expect(sel.target).toEqual({ kind: 'model', model: 'nope/gpt-4o' });
    expect(sel.failure?.code).toBe(ErrorCode.ModelNotFound);
  });
});

describe('filterCandidates: exclusions and the resulting error', () => {
  it('unknown model -> model_not_found (404)', () => {
    const sel = filterCandidates(catalog, need('gpt-9'), neverOpen);
    expect(sel.candidates).toEqual([]);
    expect(sel.failure?.code).toBe(ErrorCode.ModelNotFound);
    const err = selectionError(sel.failure!);
    expect(err.status).toBe(404);
    expect(err.param).toBe('model');
    expect(err.message).toContain("'gpt-9'");
  });

  it('a model that exists only disabled is not found', () => {
    expect(filterCandidates(catalog, need('retired'), neverOpen).failure?.code).toBe(ErrorCode.ModelNotFound);
  });

  it('a pin to a provider that does not serve the model is not found', () => {
    expect(filterCandidates(catalog, need('azure/gpt-4o-mini'), neverOpen).failure?.code).toBe(ErrorCode.ModelNotFound);
  });

  it('a non-chat model asked for chat -> invalid_request', () => {
    const sel = filterCandidates(catalog, need('text-embedding-3-small'), neverOpen);
    expect(sel.excluded).toEqual([{ deploymentId: 'openai/text-embedding-3-small', reason: 'no_chat' }]);
    expect(sel.failure?.code).toBe(ErrorCode.InvalidRequest);
  });

  it('a model without the embeddings capability asked for embeddings -> unsupported_capability naming model', () => {
    const sel = filterCandidates(catalog, need('gpt-4o', { embeddings: true }), neverOpen);
    expect(sel.excluded).toContainEqual({ deploymentId: 'openai/gpt-4o', reason: 'no_embeddings' });
    expect(sel.excluded).toContainEqual({ deploymentId: 'azure/gpt-4o', reason: 'no_embeddings' });
    expect(sel.failure?.code).toBe(ErrorCode.UnsupportedCapability);
    expect(sel.failure?.param).toBe('model');
    expect(selectionError(sel.failure!).status).toBe(400);
  });

  it('streaming needs the streaming capability', () => {
    const sel = filterCandidates(catalog, need('meta-llama/Llama-3-8B', { stream: true }), neverOpen);
    expect(sel.excluded).toEqual([{ deploymentId: 'hf/meta-llama/Llama-3-8B', reason: 'no_streaming' }]);
    expect(sel.failure?.code).toBe(ErrorCode.InvalidRequest);
    expect(sel.failure?.message).toContain('streaming');
    const auto = filterCandidates(catalog, need('auto', { stream: true }), neverOpen);
    expect(ids(auto.candidates)).not.toContain('hf/meta-llama/Llama-3-8B');
  });

  it('context windows smaller than the estimate are dropped; none left -> context_length_exceeded', () => {
    const some = filterCandidates(catalog, need('auto', { estimatedTokens: 20_000 }), neverOpen);
    expect(ids(some.candidates)).toEqual(['openai/gpt-4o', 'azure/gpt-4o']);
    expect(some.excluded).toContainEqual({ deploymentId: 'openai/gpt-4o-mini', reason: 'context_too_small' });

    const none = filterCandidates(catalog, need('auto', { estimatedTokens: 200_000 }), neverOpen);
    expect(none.failure?.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(none.failure?.message).toContain('200000');
    expect(none.failure?.message).toContain('128000');
    expect(selectionError(none.failure!).status).toBe(400);
  });

  it('the largest window named is of a deployment the request could have had: not disabled, not outside the key list', () => {
    const deps = [
      deployment('small', 'm', { contextWindow: 8_000 }),
      deployment('hidden', 'm', { contextWindow: 1_000_000 }),
      deployment('off', 'm', { contextWindow: 500_000 }, { enabled: false }),
    ];
    const sel = filterCandidates(deps, need('m', { estimatedTokens: 20_000, allowedModels: ['small/m'] }), neverOpen);
    expect(sel.failure?.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(sel.failure?.message).toBe(
      "The request needs about 20000 tokens but the largest context window for 'm' is 8000.",
    );
  });

  it('a prompt too long for every window names messages, as OpenAI does (the model is not at fault)', () => {
    const chat = filterCandidates(catalog, need('auto', { estimatedTokens: 200_000 }), neverOpen);
    expect(chat.failure?.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(selectionError(chat.failure!).param).toBe('messages');
    expect(selectionError(chat.failure!).toBody()).toMatchObject({
      type: 'invalid_request_error',
      code: 'context_length_exceeded',
      param: 'messages',
    });
  });

  it('an embeddings input too long for every window -> context_length_exceeded naming input', () => {
    const embed: Deployment = {
      ...catalog[0],
      id: 'openai/text-embedding-3-small',
      model: { ...catalog[0].model, name: 'text-embedding-3-small', contextWindow: 8191, capabilities: ['embeddings'] },
    };
    const sel = filterCandidates(
      [embed],
      need('text-embedding-3-small', { estimatedTokens: 9000, embeddings: true }),
      neverOpen,
    );
    expect(sel.failure?.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(selectionError(sel.failure!).param).toBe('input');
  });

  it('a window exactly equal to the estimate fits', () => {
    const sel = filterCandidates(catalog, need('gpt-4o-mini', { estimatedTokens: 16_000 }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['openai/gpt-4o-mini']);
  });

  it('all circuits open -> no_healthy_provider (503)', () => {
    const sel = filterCandidates(catalog, need('gpt-4o'), () => true);
    expect(sel.excluded).toEqual([
      { deploymentId: 'openai/gpt-4o', reason: 'circuit_open' },
      { deploymentId: 'azure/gpt-4o', reason: 'circuit_open' },
      { deploymentId: 'old/gpt-4o', reason: 'disabled' },
    ]);
    expect(sel.failure?.code).toBe(ErrorCode.NoHealthyProvider);
    expect(selectionError(sel.failure!).status).toBe(503);
  });

  it('the deployment that got furthest names the error: open circuit beats too-small context', () => {
    const sel = filterCandidates(catalog, need('auto', { estimatedTokens: 20_000 }), (id) => id.endsWith('/gpt-4o'));
    expect(sel.candidates).toEqual([]);
    expect(sel.failure?.code).toBe(ErrorCode.NoHealthyProvider);
  });

  it('deployments the monitor marks failing are dropped while others remain', () => {
    const failing = (id: string): boolean => id === 'openai/gpt-4o';
    const sel = filterCandidates(catalog, need('gpt-4o'), neverOpen, failing);
    expect(ids(sel.candidates)).toEqual(['azure/gpt-4o']);
    expect(sel.excluded).toContainEqual({ deploymentId: 'openai/gpt-4o', reason: 'provider_failing' });
  });

  it('failing deployments are kept when nothing else is left', () => {
    const sel = filterCandidates(catalog, need('gpt-4o'), neverOpen, () => true);
    expect(ids(sel.candidates)).toEqual(['openai/gpt-4o', 'azure/gpt-4o']);
    expect(sel.failure).toBeNull();
    expect(sel.excluded.some((e) => e.reason === 'provider_failing')).toBe(false);
  });

  it('does not modify the deployments it is given', () => {
    const copy = catalog.slice();
    filterCandidates(catalog, need('azure/gpt-4o', { allowFallback: true }), neverOpen);
    expect(catalog).toEqual(copy);
  });
});

describe('capabilities and provider-dependent fields', () => {
  const tools = ['chat', 'streaming', 'tools'] as Capability[];
  const deps: Deployment[] = [
    deployment('oa', 'm', { capabilities: tools }),
    deployment('an', 'm', { capabilities: [...tools, 'vision'] }, { kind: 'anthropic' }),
    deployment('plain', 'p'),
  ];
  const withTools = { messages: [], options: { tools: [{ type: 'function' as const, function: { name: 'f' } }] } };

  it('derives needs from tools, tool history, images, JSON mode and set fields', () => {
    expect(requestNeedsOf(withTools)).toEqual({ capabilities: ['tools'], params: [] });
    expect(
      requestNeedsOf({
        messages: [
          { role: 'tool', content: 'x', tool_call_id: 'c' },
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x' } }] },
        ],
        options: { responseFormat: { type: 'json_object' }, logitBias: { '1': 1 }, extra: { store: true } },
      }),
    ).toEqual({
      capabilities: ['tools', 'vision', 'json'],
      params: ['image_url.url', 'response_format', 'logit_bias', 'store'],
    });
    // Asking for no reasoning is something every family serves; any other effort only those that reason on request.
    expect(requestNeedsOf({ messages: [], options: { reasoningEffort: 'none' } }).params).toEqual([]);
    expect(requestNeedsOf({ messages: [], options: { reasoningEffort: 'low' } }).params).toEqual(['reasoning_effort']);
    expect(requestNeedsOf({ messages: [], options: { responseFormat: { type: 'text' } } })).toEqual({
      capabilities: [],
      params: [],
    });
  });

  it("needs no family for OpenAI's replacements of `user`, which change no answer; other pass-through fields it does", () => {
    const options = { extra: { safety_identifier: 'u-1', prompt_cache_key: 'k', service_tier: 'flex' } };
    expect(requestNeedsOf({ messages: [], options }).params).toEqual(['service_tier']);
    // `metadata`, tags for OpenAI's stored completions, no more changes the answer: every family serves it.
    expect(requestNeedsOf({ messages: [], options: { metadata: { team: 'search' } } }).params).toEqual([]);
  });

  it('keeps only deployments with the capabilities and a family that honours every field', () => {
    expect(ids(filterCandidates(deps, need('m', { needs: requestNeedsOf(withTools) }), neverOpen).candidates)).toEqual([
      'oa/m',
      'an/m',
    ]);
    const logit = requestNeedsOf({ ...withTools, options: { ...withTools.options, logitBias: { '1': 1 } } });
    const sel = filterCandidates(deps, need('m', { needs: logit }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['oa/m']);
    expect(sel.excluded).toEqual([{ deploymentId: 'an/m', reason: 'unsupported_parameter' }]);
    expect(supportsParam('anthropic', 'user')).toBe(true);
    expect(supportsParam('anthropic', 'seed')).toBe(false);
  });

  it('names the missing capability or the unsupported field when nothing is left', () => {
    const vision = { capabilities: ['vision'] as Capability[], params: [] };
    const failure = filterCandidates(deps, need('p', { needs: vision }), neverOpen).failure;
    expect(failure).toMatchObject({ code: ErrorCode.UnsupportedCapability, param: 'messages' });
    expect(failure?.message).toContain("'vision'");
    const seed = filterCandidates(deps, need('an/m', { needs: { capabilities: [], params: ['seed'] } }), neverOpen);
    expect(seed.failure).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'seed' });
    const err = selectionError(seed.failure!);
    expect(err.status).toBe(400);
    expect(err.param).toBe('seed');
  });

  it('a file Claude cannot read (a file_id, a type other than PDF or text) keeps a request from Anthropic', () => {
    // Routing let every file part reach the Anthropic family, whose adapter then refused it in the worker, after a
    // queue hop, instead of the 400 before queueing.
    const file = (f: { file_id?: string; file_data?: string }) =>
      requestNeedsOf({ messages: [{ role: 'user', content: [{ type: 'file', file: f }] }], options: {} });
    expect(file({ file_data: 'data:application/pdf;base64,JVBE' }).params).toEqual(['file']);
    expect(file({ file_data: 'data:text/plain;charset=utf-8;base64,aGk=' }).params).toEqual(['file']);
    const byId = file({ file_id: 'file-abc' });
    expect(byId.params).toEqual(['file', 'file.file_id']);
    const png = file({ file_data: 'data:image/png;base64,iVBO' });
    expect(png.params).toEqual(['file', 'file.media_type']);
    const sonnet = deployment('cl', 'sonnet', {}, { kind: 'anthropic' });
    const sonnets = [sonnet, deployment('ge', 'sonnet', {}, { kind: 'gemini' }), deployment('oa', 'sonnet')];
    expect(ids(filterCandidates(sonnets, need('sonnet', { needs: byId }), neverOpen).candidates)).toEqual([
      'oa/sonnet',
    ]);
    expect(ids(filterCandidates(sonnets, need('sonnet', { needs: png }), neverOpen).candidates)).toEqual([
      'ge/sonnet',
      'oa/sonnet',
    ]);
    const onClaude = filterCandidates(sonnets, need('cl/sonnet', { needs: byId }), neverOpen).failure;
    expect(onClaude).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'messages' });
    expect(onClaude?.message).toBe(
      "A file by file_id (a file uploaded to one provider; send it as file_data) is not supported by the deployments of 'cl/sonnet' (anthropic API); remove it or choose another model.",
    );
    expect(filterCandidates(sonnets, need('cl/sonnet', { needs: png }), neverOpen).failure?.message).toMatch(
      /^A file other than a PDF or plain text is not supported by the deployments of 'cl\/sonnet'/,
    );
  });

  it('token ids to embed keep a request from the families that embed text only (Gemini, Ollama)', () => {
    // Routing let a token-array input reach a model's Ollama deployment (the cheapest: zero cost), whose adapter
    // refused it: 400 for a request the model's OpenAI-compatible deployment would have embedded.
    const embed = (input: string[] | number[][]) =>
      requestNeedsOf({ messages: [], options: {}, embeddings: { input } });
    expect(embed(['text']).params).toEqual([]);
    const tokens = embed([[1, 2, 3]]);
    expect(tokens.params).toEqual(['input.tokens']);
    const embedding = { capabilities: ['embeddings'] as Capability[] };
    const nomic = [
      deployment('oll', 'nomic', embedding, { kind: 'ollama' }),
      deployment('gem', 'nomic', embedding, { kind: 'gemini' }),
      deployment('vllm', 'nomic', embedding),
    ];
    const sel = filterCandidates(nomic, need('nomic', { embeddings: true, needs: tokens }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['vllm/nomic']);
    const onOllama = filterCandidates(nomic, need('oll/nomic', { embeddings: true, needs: tokens }), neverOpen);
    expect(onOllama.failure).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'input' });
    expect(onOllama.failure?.message).toBe(
      "An input of token ids (their API embeds text only: send the text) is not supported by the deployments of 'oll/nomic' (ollama API); remove it or choose another model.",
    );
  });

  it('an image by URL keeps a request from Ollama, which takes base64 images only; a data URL goes everywhere', () => {
    const image = (url: string) =>
      requestNeedsOf({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }],
        options: {},
      });
    expect(image('data:image/png;base64,iVBO').params).toEqual([]);
    expect(image('DATA:image/png;base64,iVBO').params).toEqual([]);
    const remote = image('https://example.com/cat.png');
    expect(remote).toEqual({ capabilities: ['vision'], params: ['image_url.url'] });
    const llava = deployment('ol', 'llava', { capabilities: ['chat', 'vision'] }, { kind: 'ollama' });
    const visionDeps = [
      ...deps,
      llava,
      deployment('ge', 'llava', { capabilities: ['chat', 'vision'] }, { kind: 'gemini' }),
    ];
    expect(ids(filterCandidates(visionDeps, need('llava', { needs: remote }), neverOpen).candidates)).toEqual([
      'ge/llava',
    ]);
    const onOllama = filterCandidates(visionDeps, need('ol/llava', { needs: remote }), neverOpen).failure;
    expect(onOllama).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'messages' });
    expect(onOllama?.message).toBe(
      "An image by http(s) URL (send it as a base64 data URL) is not supported by the deployments of 'ol/llava' (ollama API); remove it or choose another model.",
    );
    for (const kind of ['openai', 'anthropic', 'gemini', 'plugin'] as const) {
      expect(supportsParam(kind, 'image_url.url')).toBe(true);
    }
  });

  it('a stop sequence of whitespace only (Anthropic refuses it) keeps a request from Anthropic only', () => {
    expect(requestNeedsOf({ messages: [], options: { stop: ['\n\nHuman:', 'END'] } }).params).toEqual([]);
    const blank = requestNeedsOf({ messages: [], options: { stop: ['END', '\n'] } });
    expect(blank.params).toEqual(['stop']);
    expect(ids(filterCandidates(deps, need('m', { needs: blank }), neverOpen).candidates)).toEqual(['oa/m']);
    const onClaude = filterCandidates(deps, need('an/m', { needs: blank }), neverOpen).failure;
    expect(onClaude).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'stop' });
    expect(onClaude?.message).toContain("'stop' with a sequence of whitespace only is not supported");
    for (const kind of ['openai', 'gemini', 'ollama', 'tgi'] as const) {
      expect(supportsParam(kind, 'stop')).toBe(true);
    }
    expect(supportsParam('anthropic', 'stop')).toBe(false);
  });

  it('more than 4 stop sequences (OpenAI chat takes 4) keep a request from the OpenAI family, TGI and Gemini', () => {
    expect(requestNeedsOf({ messages: [], options: { stop: ['a', 'b', 'c', 'd'] } }).params).toEqual([]);
    const many = requestNeedsOf({ messages: [], options: { stop: ['a', 'b', 'c', 'd', 'e'] } });
    expect(many.params).toEqual([MANY_STOPS_PARAM]);
    expect(ids(filterCandidates(deps, need('m', { needs: many }), neverOpen).candidates)).toEqual(['an/m']);
    const onOpenAi = filterCandidates(deps, need('oa/m', { needs: many }), neverOpen).failure;
    expect(onOpenAi).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'stop' });
    expect(onOpenAi?.message).toContain("More than 4 sequences in 'stop' is not supported");
    expect((['anthropic', 'ollama', 'plugin'] as const).map((k) => supportsParam(k, MANY_STOPS_PARAM))).toEqual([
      true,
      true,
      true,
    ]);
    expect((['openai', 'gemini', 'tgi'] as const).map((k) => supportsParam(k, MANY_STOPS_PARAM))).toEqual([
      false,
      false,
      false,
    ]);
  });

  it("Anthropic's service_tier 'standard_only' keeps a request to Claude; 'auto' goes everywhere", () => {
    expect(requestNeedsOf({ messages: [], options: { anthropicServiceTier: 'auto' } }).params).toEqual([]);
    const standard = requestNeedsOf({ messages: [], options: { anthropicServiceTier: 'standard_only' } });
    expect(standard.params).toEqual([STANDARD_TIER_PARAM]);
    expect(ids(filterCandidates(deps, need('m', { needs: standard }), neverOpen).candidates)).toEqual(['an/m']);
    const onOpenAi = filterCandidates(deps, need('oa/m', { needs: standard }), neverOpen).failure;
    expect(onOpenAi).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'service_tier' });
    for (const kind of ['openai', 'gemini', 'ollama', 'tgi', 'plugin'] as const) {
      expect(supportsParam(kind, STANDARD_TIER_PARAM)).toBe(false);
    }
  });

  it('logprobs and top_logprobs are served by Gemini (responseLogprobs / logprobs), not by Anthropic', () => {
    const gemini = deployment('g', 'flash', {}, { kind: 'gemini' });
    const claude = deployment('an', 'flash', {}, { kind: 'anthropic' });
    const needs = requestNeedsOf({ messages: [], options: { logprobs: true, topLogprobs: 3 } });
    expect(needs.params).toEqual(['logprobs', 'top_logprobs']);
    const sel = filterCandidates([gemini, claude], need('flash', { needs }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['g/flash']);
    expect(sel.excluded).toEqual([{ deploymentId: 'an/flash', reason: 'unsupported_parameter' }]);
  });

  it('JSON mode with tools keeps a request from Gemini models before 3, which refuse the two together', () => {
    const all: Capability[] = ['chat', 'streaming', 'tools', 'json'];
    const gemini = (model: string, upstreamName?: string): Deployment =>
      deployment(
        model.startsWith('g3') ? 'g3' : 'g2',
        'flash',
        { capabilities: all, upstreamName },
        { kind: 'gemini' },
      );
    const flash2 = gemini('g2', 'gemini-2.5-flash');
    const flash3 = gemini('g3', 'gemini-3-flash-preview');
    const openai = deployment('oa', 'flash', { capabilities: all });
    const tools = [{ type: 'function' as const, function: { name: 'f' } }];
    const json = { type: 'json_object' as const };
    const both = requestNeedsOf({ messages: [], options: { tools, responseFormat: json } });
    expect(both.jsonWithTools).toBe(true);
    expect(requestNeedsOf({ messages: [], options: { responseFormat: json } }).jsonWithTools).toBeUndefined();
    expect(requestNeedsOf({ messages: [], options: { tools } }).jsonWithTools).toBeUndefined();
    // Routed to a deployment that takes both, when the model has one.
    const sel = filterCandidates([flash2, flash3, openai], need('flash', { needs: both }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['g3/flash', 'oa/flash']);
    expect(sel.excluded).toEqual([{ deploymentId: 'g2/flash', reason: 'unsupported_parameter' }]);
    // Else refused before any call, naming the field.
    const failure = filterCandidates([flash2], need('flash', { needs: both }), neverOpen).failure;
    expect(failure).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'response_format' });
    expect(failure?.message).toContain("'response_format' (JSON mode) together with 'tools' is not supported");
    // Either one alone is served; so is a Gemini name without a version (the provider decides).
    for (const options of [{ tools }, { responseFormat: json }]) {
      const one = requestNeedsOf({ messages: [], options });
      expect(ids(filterCandidates([flash2], need('flash', { needs: one }), neverOpen).candidates)).toEqual([
        'g2/flash',
      ]);
    }
    for (const name of ['gemini-flash-latest', 'gemini-3-pro-preview', 'models/gemini-3.1-pro']) {
      const d = gemini('g', name);
      expect(ids(filterCandidates([d], need('flash', { needs: both }), neverOpen).candidates)).toEqual([d.id]);
    }
    for (const name of ['gemini-2.0-flash-001', 'models/gemini-1.5-pro', 'gemini-2.5-pro']) {
      const d = gemini('g', name);
      expect(filterCandidates([d], need('flash', { needs: both }), neverOpen).failure?.param).toBe('response_format');
    }
  });

  it('temperature with top_p keeps a request from Claude models that take only one (Opus 4.1, 4.5 and later)', () => {
    const claude = (provider: string, upstreamName: string, routing: 'direct' | 'auto' = 'direct'): Deployment =>
      deployment(provider, 'sonnet', { upstreamName }, { kind: 'anthropic', routing, gateway: 'litellm' });
    const newer = claude('an45', 'claude-sonnet-4-5-20250929', 'auto');
    const bedrock = claude('bedrock', 'anthropic.claude-sonnet-4-5-20250929-v1:0');
    const older = claude('an40', 'claude-sonnet-4-20250514');
    const openai = deployment('oa', 'sonnet');
    const both = requestNeedsOf({ messages: [], options: { temperature: 0.2, topP: 0.9 } });
    expect(both.temperatureWithTopP).toBe(true);
    // A value that changes nothing (top_p 1, or temperature 1 beside a top_p) is left out for such a model: served.
    for (const options of [
      { temperature: 0.2, topP: 1 },
      { temperature: 1, topP: 0.9 },
      { temperature: 0.2 },
      { topP: 0.9 },
    ]) {
      const one = requestNeedsOf({ messages: [], options });
      expect([options, one.temperatureWithTopP]).toEqual([options, undefined]);
      expect(ids(filterCandidates([newer], need('sonnet', { needs: one }), neverOpen).candidates)).toEqual([newer.id]);
    }
    // Routed to the deployments that take both, either route of an `auto` provider refusing alike (LiteLLM passes both on).
    const sel = filterCandidates([newer, bedrock, older, openai], need('sonnet', { needs: both }), neverOpen);
    expect(ids(sel.candidates)).toEqual(['an40/sonnet', 'oa/sonnet']);
    expect(sel.excluded).toEqual([
      { deploymentId: 'an45/sonnet', reason: 'unsupported_parameter' },
      { deploymentId: 'bedrock/sonnet', reason: 'unsupported_parameter' },
    ]);
    // Else refused before any call, naming top_p and the model's rule.
    const failure = filterCandidates([newer, bedrock], need('sonnet', { needs: both }), neverOpen).failure;
    expect(failure).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'top_p' });
    expect(failure?.message).toContain("'temperature' and 'top_p' cannot both be set for the deployments of 'sonnet'");
    expect(failure?.message).toContain('Claude Opus 4.1, the Claude 4.5 generation and later');
    // Told by the upstream name: a name without a version, another family's model, are sent both.
    for (const d of [
      claude('an', 'claude-sonnet-latest'),
      deployment('oa', 'sonnet', { upstreamName: 'claude-sonnet-4-5' }),
    ]) {
      expect(ids(filterCandidates([d], need('sonnet', { needs: both }), neverOpen).candidates)).toEqual([d.id]);
    }
  });

  it.each([
    ['claude-opus-4-1', true],
    ['claude-opus-4-1-20250805', true],
    ['claude-sonnet-4-5', true],
    ['claude-haiku-4-5-20251001', true],
    ['claude-opus-4-5', true],
    ['claude-sonnet-4-6', true],
    ['claude-opus-4-6', true],
    ['claude-sonnet-5', true],
    ['claude-opus-5-1-20270101', true],
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', true],
    ['us.anthropic.claude-haiku-4-5-20251001-v1:0', true],
    ['claude-sonnet-4-5@20250929', true],
    ['anthropic/claude-sonnet-4.5', true],
    ['Claude-Sonnet-4-5', true],
    ['claude-sonnet-4-20250514', false],
    ['claude-sonnet-4-0', false],
    ['claude-opus-4-20250514', false],
    ['claude-opus-4-0', false],
    ['anthropic.claude-sonnet-4-20250514-v1:0', false],
    ['claude-sonnet-4@20250514', false],
    ['claude-3-7-sonnet-20250219', false],
    ['claude-3-5-sonnet-latest', false],
    ['claude-3-opus-20240229', false],
    ['claude-sonnet-latest', false],
    ['gpt-4o', false],
  ])('takesOneSamplingField(%s) is %s', (model, expected) => {
    expect(takesOneSamplingField(model)).toBe(expected);
  });

  it('a tool name not starting with a letter or underscore keeps a request from Gemini, naming the tool', () => {
    const all: Capability[] = ['chat', 'streaming', 'tools'];
    const gemini = deployment('g', 'flash', { capabilities: all }, { kind: 'gemini' });
    const claude = deployment('an', 'flash', { capabilities: all }, { kind: 'anthropic' });
    const openai = deployment('oa', 'flash', { capabilities: all });
    const ollama = deployment('ol', 'flash', { capabilities: all }, { kind: 'ollama' });
    const plugin = deployment('pl', 'flash', { capabilities: all }, { kind: 'plugin' });
    const tool = (name: string) => ({ type: 'function' as const, function: { name } });
    // Gemini: a letter or an underscore first; OpenAI and Anthropic (1-64 of a-z A-Z 0-9 _ -) and Ollama take digits.
    for (const name of ['1lookup', '-x', '9']) {
      const needs = requestNeedsOf({ messages: [], options: { tools: [tool('ok'), tool('_fine'), tool(name)] } });
      // A per-deployment refusal (`refusesToolName`), not a family param every other family must list.
      expect(needs.params).toEqual([]);
      expect(needs.toolName).toEqual({ index: 2, name });
      expect(ids(filterCandidates([plugin], need('flash', { needs }), neverOpen).candidates)).toEqual(['pl/flash']);
      const sel = filterCandidates([gemini, claude, openai, ollama], need('flash', { needs }), neverOpen);
      expect(ids(sel.candidates)).toEqual(['an/flash', 'oa/flash', 'ol/flash']);
      expect(sel.excluded).toEqual([{ deploymentId: 'g/flash', reason: 'unsupported_parameter' }]);
      const failure = filterCandidates([gemini], need('flash', { needs }), neverOpen).failure;
      expect(failure).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'tools[2].function.name' });
      expect(failure?.message).toBe(
        `The tool name '${name}' is not supported by the deployments of 'flash' (gemini API: a function name must start with a letter or an underscore); rename the tool or choose another model.`,
      );
    }
    for (const name of ['lookup', '_x', 'get_weather-2', 'A']) {
      const needs = requestNeedsOf({ messages: [], options: { tools: [tool(name)] } });
      expect(needs.params).toEqual([]);
      expect(needs.toolName).toBeUndefined();
      expect(ids(filterCandidates([gemini], need('flash', { needs }), neverOpen).candidates)).toEqual(['g/flash']);
    }
  });

  it('a temperature above 1 (OpenAI takes up to 2) keeps a request from Anthropic only', () => {
    expect(requestNeedsOf({ messages: [], options: { temperature: 1 } }).params).toEqual([]);
    const hot = requestNeedsOf({ messages: [], options: { temperature: 1.5 } });
    expect(hot.params).toEqual(['temperature']);
    expect(ids(filterCandidates(deps, need('m', { needs: hot }), neverOpen).candidates)).toEqual(['oa/m']);
    const onClaude = filterCandidates(deps, need('an/m', { needs: hot }), neverOpen).failure;
    expect(onClaude).toMatchObject({ code: ErrorCode.UnsupportedParameter, param: 'temperature' });
    expect(onClaude?.message).toContain("'temperature' above 1 is not supported");
    for (const kind of ['gemini', 'ollama', 'tgi'] as const) {
      expect(supportsParam(kind, 'temperature')).toBe(true);
    }
    // top_k: every family samples with it.
    for (const kind of ['openai', 'anthropic', 'gemini', 'ollama', 'tgi'] as const) {
      expect(supportsParam(kind, 'top_k')).toBe(true);
    }
  });
});

/**
 * A provider reached through an OpenAI-compatible gateway (LiteLLM) is judged by the route's wire, not only by its
 * family: Claude behind LiteLLM takes JSON mode (LiteLLM translates `response_format` for Anthropic), which Claude's
 * own API cannot be told. It was judged as Claude on every route and never a candidate for it.
 */
describe('filterCandidates judges each route by its wire', () => {
  const jsonNeeds = requestNeedsOf({ messages: [], options: { responseFormat: { type: 'json_object' } } });
  const claude = (routing: 'direct' | 'gateway' | 'auto'): Deployment =>
    deployment(
      `claude-${routing}`,
      'claude',
      { capabilities: ['chat', 'streaming', 'json'] },
      { kind: 'anthropic', routing, ...(routing === 'direct' ? {} : { gateway: 'litellm' }) },
    );

  it('keeps Claude through the gateway (or auto, which may take it) for JSON mode, and refuses it direct', () => {
    const all = [claude('direct'), claude('gateway'), claude('auto')];
    const selection = filterCandidates(all, need('claude', { needs: jsonNeeds }), neverOpen);
    expect(ids(selection.candidates)).toEqual(['claude-gateway/claude', 'claude-auto/claude']);
    expect(selection.excluded).toEqual([{ deploymentId: 'claude-direct/claude', reason: 'unsupported_parameter' }]);
  });

  it('judges the fields Claude takes directly the same behind the gateway (a prefill, standard_only, many stops)', () => {
    const claudeOnly = requestNeedsOf({
      messages: [],
      options: { assistantPrefill: true, anthropicServiceTier: 'standard_only', stop: ['a', 'b', 'c', 'd', 'e'] },
    });
    const selection = filterCandidates([claude('gateway')], need('claude', { needs: claudeOnly }), neverOpen);
    expect(ids(selection.candidates)).toEqual(['claude-gateway/claude']);
    // What Claude refuses (a stop sequence of whitespace only) LiteLLM cannot make it take.
    const blank = requestNeedsOf({ messages: [], options: { stop: ['\n'] } });
    expect(filterCandidates([claude('gateway')], need('claude', { needs: blank }), neverOpen).candidates).toEqual([]);
  });
});
