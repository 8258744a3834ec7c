import type { GenerationRequest } from '../domain';
import { cacheAccessOf, cacheKeyOf, canonicalJson, mayServeAnswer, preferencesRouting } from './cache-key';

type KeyInput = Parameters<typeof cacheKeyOf>[0];

function base(): KeyInput {
  return {
    model: 'gpt-4o-mini',
    userId: 'user-a',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
    ],
    options: { temperature: 0.2, maxTokens: 100 },
  };
}

describe('canonicalJson', () => {
  it('sorts keys at every level and normalises -0', () => {
    expect(canonicalJson({ b: 1, a: { d: -0, c: [1.0, undefined] }, e: undefined })).toBe(
      '{"a":{"c":[1,null],"d":0},"b":1}',
    );
  });
});

describe('cacheKeyOf', () => {
  const key = cacheKeyOf(base(), 'global');

  it('is a SHA-256 hex digest', () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores the caller, bookkeeping fields and key order', () => {
    const other: KeyInput & Partial<GenerationRequest> = {
      ...base(),
      userId: 'user-b',
      apiKeyId: 'key-b',
      requestId: 'r2',
      deadlineAt: 1,
      receivedAt: 2,
      stream: true,
      options: { maxTokens: 100, temperature: 0.2, user: 'end-user-7', metadata: { team: 'x' } },
    };
    expect(cacheKeyOf(other, 'global')).toBe(key);
  });

  it('keeps users apart with scope user', () => {
    const a = cacheKeyOf(base(), 'user');
    expect(a).not.toBe(key);
    expect(cacheKeyOf({ ...base(), userId: 'user-b' }, 'user')).not.toBe(a);
    expect(cacheKeyOf(base(), 'user')).toBe(a);
  });

  const changes: [string, (r: KeyInput) => KeyInput][] = [
    ['model', (r) => ({ ...r, model: 'gpt-4o' })],
    ['system prompt', (r) => ({ ...r, messages: [{ role: 'system', content: 'Be long.' }, r.messages[1]] })],
    ['user message', (r) => ({ ...r, messages: [r.messages[0], { role: 'user', content: 'Hi' }] })],
    ['temperature', (r) => ({ ...r, options: { ...r.options, temperature: 0.3 } })],
    ['maxTokens', (r) => ({ ...r, options: { ...r.options, maxTokens: 101 } })],
    ['topP', (r) => ({ ...r, options: { ...r.options, topP: 0.9 } })],
    ['stop', (r) => ({ ...r, options: { ...r.options, stop: ['\n'] } })],
    ['seed', (r) => ({ ...r, options: { ...r.options, seed: 7 } })],
    [
      'tools',
      (r) => ({
        ...r,
        options: { ...r.options, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] },
      }),
    ],
    ['toolChoice', (r) => ({ ...r, options: { ...r.options, toolChoice: 'required' } })],
    ['response_format', (r) => ({ ...r, options: { ...r.options, responseFormat: { type: 'json_object' } } })],
    ['reasoningEffort', (r) => ({ ...r, options: { ...r.options, reasoningEffort: 'high' } })],
    ['presencePenalty', (r) => ({ ...r, options: { ...r.options, presencePenalty: 1 } })],
    ['frequencyPenalty', (r) => ({ ...r, options: { ...r.options, frequencyPenalty: 1 } })],
    ['logitBias', (r) => ({ ...r, options: { ...r.options, logitBias: { '50256': -100 } } })],
    ['logprobs', (r) => ({ ...r, options: { ...r.options, logprobs: true } })],
    ['extra fields', (r) => ({ ...r, options: { ...r.options, extra: { top_k: 3 } } })],
    ['context', (r) => ({ ...r, context: 'coding' })],
    ['policy', (r) => ({ ...r, policy: 'cost' })],
    ['allowFallback', (r) => ({ ...r, allowFallback: true })],
    ['embeddings input', (r) => ({ ...r, embeddings: { input: ['a'] } })],
  ];

  it.each(changes)('changes with %s', (_name, change) => {
    expect(cacheKeyOf(change(base()), 'global')).not.toBe(key);
  });

  it('uses the resolved model when given', () => {
    expect(cacheKeyOf(base(), 'global', { resolvedModel: 'openai/gpt-4o-mini' })).not.toBe(key);
  });
});

describe('cache access of a restricted key', () => {
  const d = (id: string) => ({
    id,
    provider: { id: id.split('/')[0] },
    model: { name: id.split('/')[1] },
  });
  const reach = [d('openai/gpt-4o'), d('anthropic/claude'), d('azure/gpt-4o')];

  it('is null for an unrestricted key and for an allow-list that keeps every reachable deployment', () => {
    expect(cacheAccessOf(null, reach)).toBeNull();
    expect(cacheAccessOf(undefined, reach)).toBeNull();
    expect(cacheAccessOf(['gpt-4o', 'anthropic/*'], reach)).toBeNull();
  });

  it('names the usable deployments, sorted, when the allow-list narrows the reach', () => {
    expect(cacheAccessOf(['gpt-4o'], reach)).toEqual(['azure/gpt-4o', 'openai/gpt-4o']);
    expect(cacheAccessOf(['openai/*'], reach)).toEqual(['openai/gpt-4o']);
  });

  it('keeps a narrowed key apart from the shared entry, and leaves unrestricted keys as they were', () => {
    const shared = cacheKeyOf(base(), 'global');
    expect(cacheKeyOf(base(), 'global', { access: null })).toBe(shared);
    const narrowed = cacheKeyOf(base(), 'global', { access: ['openai/gpt-4o'] });
    expect(narrowed).not.toBe(shared);
    expect(cacheKeyOf(base(), 'global', { access: ['azure/gpt-4o', 'openai/gpt-4o'] })).not.toBe(narrowed);
  });

  it('serves an answer only from a deployment the allow-list names', () => {
    const answer = { provider: 'anthropic', model: 'claude' };
    expect(mayServeAnswer(null, answer)).toBe(true);
    expect(mayServeAnswer(['anthropic/*'], answer)).toBe(true);
    expect(mayServeAnswer(['claude'], answer)).toBe(true);
    expect(mayServeAnswer(['anthropic/claude'], answer)).toBe(true);
    expect(mayServeAnswer(['openai/*', 'gpt-4o'], answer)).toBe(false);
  });
});

describe('preferences in the key', () => {
  const mine = '=sim-b/sim-claude|';
  const providers = new Set(['sim', 'sim-b']);
  const routed = (model: string, extra: Partial<GenerationRequest> = {}) =>
    preferencesRouting({ model, ...extra }, mine, providers);

  it("keeps a user's preference-routed answers apart from everyone's, and unchanged for users without any", () => {
    const everyone = cacheKeyOf({ ...base(), model: 'auto' }, 'global');
    expect(cacheKeyOf({ ...base(), model: 'auto' }, 'global', { preferences: null })).toBe(everyone);
    const withMine = cacheKeyOf({ ...base(), model: 'auto' }, 'global', { preferences: mine });
    expect(withMine).not.toBe(everyone);
    expect(cacheKeyOf({ ...base(), model: 'auto' }, 'global', { preferences: '=sim/sim-gpt|' })).not.toBe(withMine);
  });

  it('counts preferences only where they may route: auto, model names, pinned with fallback, no other policy', () => {
    expect(routed('auto')).toBe(mine);
    expect(routed('sim-claude')).toBe(mine);
    expect(routed('auto', { policy: 'preference' })).toBe(mine);
    expect(routed('sim/sim-gpt', { allowFallback: true })).toBe(mine);
    expect(routed('sim/sim-gpt')).toBeNull();
    expect(routed('cheapest')).toBeNull();
    expect(routed('auto', { policy: 'cost' })).toBeNull();
    expect(preferencesRouting({ model: 'auto' }, null, providers)).toBeNull();
  });
});
