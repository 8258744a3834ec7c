import { deploymentsOf, type Catalog, type ModelSpec, type ProviderSpec } from '@aigw/core';
import type { CircuitStatus } from '@aigw/routing';
import type { SlowSignals } from './deployment-signals.service';
import { modelListing, recommendedIds } from './model-listing';

function model(name: string, fields: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name,
    promptPer1k: 1,
    completionPer1k: 1,
    contextWindow: 1000,
    capabilities: ['chat', 'streaming'],
    enabled: true,
    ...fields,
  };
}

function provider(id: string, models: ModelSpec[], fields: Partial<ProviderSpec> = {}): ProviderSpec {
  return {
    id,
    kind: 'openai',
    baseUrl: `http://internal-${id}.example/v1`,
    apiKey: `sk-secret-${id}`,
    enabled: true,
    timeoutMs: 1000,
    maxConnections: 4,
    routing: 'direct',
    models,
    ...fields,
  };
}

const OPEN: CircuitStatus = { state: 'open', openedAt: 1, probesInFlight: 0, available: false, retryAfterMs: 1000 };
const NO_SIGNALS: SlowSignals = { stats: new Map(), health: new Map() };

describe('modelListing', () => {
  const catalog: Catalog = {
    gateways: [],
    providers: [
      provider('p1', [
        model('cheap', {
          displayName: 'Cheap One',
          description: 'Fast.',
          promptPer1k: 0.1,
          completionPer1k: 0.2,
          cachedPromptPer1k: 0.05,
          quality: 0.5,
        }),
        model('off', { enabled: false }),
      ]),
      provider('p2', [model('big', { promptPer1k: 3, completionPer1k: 6, quality: 0.9, contextWindow: 200_000 })], {
        displayName: 'Provider Two',
      }),
      provider('p3', [model('x')], { enabled: false }),
    ],
  };
  const deployments = deploymentsOf(catalog);

  it('lists every deployment with the contract fields, and never a base URL or key', () => {
    const signals: SlowSignals = {
      stats: new Map([
        ['p1/cheap', { provider: 'p1', model: 'cheap', requests: 8, successes: 6, avgLatencyMs: 123.4 }],
      ]),
      health: new Map([['p1', 'healthy']]),
    };
    const list = modelListing(deployments, signals, new Map());
    expect(list.data.map((d) => [d.id, d.available])).toEqual([
      ['p1/cheap', true],
      ['p1/off', false],
      ['p2/big', true],
      ['p3/x', false],
    ]);
    expect(list.data[0]).toEqual({
      id: 'p1/cheap',
      provider: 'p1',
      model: 'cheap',
      displayName: 'Cheap One',
      providerDisplayName: 'p1',
      description: 'Fast.',
      capabilities: ['chat', 'streaming'],
      contextWindow: 1000,
      pricing: { promptPer1k: 0.1, completionPer1k: 0.2 },
      avgLatencyMs: 123,
      successRate: 0.75,
      requests24h: 8,
      health: 'healthy',
      available: true,
      unavailableReason: null,
      cooldownUntil: null,
      recommended: true,
    });
    expect(list.data[2]).toMatchObject({
      displayName: 'big',
      providerDisplayName: 'Provider Two',
      description: null,
      avgLatencyMs: null,
      successRate: null,
      health: 'unknown',
    });
    const text = JSON.stringify(list);
    expect(text).not.toContain('sk-secret');
    expect(text).not.toContain('internal-');
  });

  it("marks a deployment whose provider's model list lacks it unavailable, and recommends another", () => {
    const free = modelListing(deployments, NO_SIGNALS, new Map());
    expect(free.data.find((d) => d.id === 'p1/cheap')).toMatchObject({ available: true, recommended: true });
    const list = modelListing(deployments, NO_SIGNALS, new Map(), new Set(['p1/cheap']));
    expect(list.data.find((d) => d.id === 'p1/cheap')).toMatchObject({
      available: false,
      unavailableReason: 'model_unserved',
      recommended: false,
    });
    expect(list.data.find((d) => d.id === 'p2/big')).toMatchObject({ available: true, recommended: true });
  });

  it('marks a deployment with an open circuit or a failing provider unavailable', () => {
    const signals: SlowSignals = { stats: new Map(), health: new Map([['p2', 'failing']]) };
    const list = modelListing(deployments, signals, new Map([['p1/cheap', OPEN]]));
    expect(list.data.filter((d) => d.available)).toEqual([]);
    const halfOpen: CircuitStatus = { ...OPEN, state: 'half_open', available: true };
    expect(modelListing(deployments, NO_SIGNALS, new Map([['p1/cheap', halfOpen]])).data[0].available).toBe(true);
    expect(list.data.map((d) => [d.id, d.unavailableReason, d.cooldownUntil])).toEqual([
      ['p1/cheap', 'circuit_open', null],
      ['p1/off', 'model_disabled', null],
      ['p2/big', 'health_failing', null],
      ['p3/x', 'provider_disabled', null],
    ]);
  });

  it('says a deployment set aside for the wait its provider asked for is cooling down, and until when', () => {
    const until = Date.UTC(2030, 0, 1, 12, 0, 30);
    // Its circuit is closed: only the cooldown refuses (the store sets `cooldownStatus` then).
    const cooling: CircuitStatus = {
      state: 'closed',
      openedAt: 0,
      probesInFlight: 0,
      available: false,
      retryAfterMs: 30_000,
      cooldownStatus: 429,
      cooldownUntil: until,
    };
    const item = modelListing(deployments, NO_SIGNALS, new Map([['p1/cheap', cooling]])).data[0];
    expect(item).toMatchObject({
      available: false,
      unavailableReason: 'cooldown',
      cooldownUntil: '2030-01-01T12:00:30.000Z',
    });
    // Open and cooling: the open circuit is why (it would refuse after the wait too), as routing says.
    const openCooling: CircuitStatus = { ...OPEN, cooldownUntil: until };
    expect(modelListing(deployments, NO_SIGNALS, new Map([['p1/cheap', openCooling]])).data[0]).toMatchObject({
      unavailableReason: 'circuit_open',
      cooldownUntil: null,
    });
  });
});

describe('recommendedIds', () => {
  const all = () => true;

  it('picks the best quality per price among usable chat deployments', () => {
    const ds = deploymentsOf({
      gateways: [],
      providers: [
        provider('a', [
          model('q9', { quality: 0.9, promptPer1k: 1, completionPer1k: 1 }), // 0.45
          model('q6', { quality: 0.6, promptPer1k: 0.5, completionPer1k: 0.5 }), // 0.6
          model('emb', { quality: 1, promptPer1k: 0, completionPer1k: 0, capabilities: ['embeddings'] }),
        ]),
      ],
    });
    expect([...recommendedIds(ds, all)]).toEqual(['a/q6']);
    expect([...recommendedIds(ds, (d) => d.id !== 'a/q6')]).toEqual(['a/q9']);
    expect([...recommendedIds(ds, () => false)]).toEqual([]);
  });

  it('ranks a free deployment by its quality, ties going to the higher quality', () => {
    const ds = deploymentsOf({
      gateways: [],
      providers: [
        provider('local', [
          model('small', { quality: 0.3, promptPer1k: 0, completionPer1k: 0 }),
          model('large', { quality: 0.8, promptPer1k: 0, completionPer1k: 0 }),
        ]),
        provider('paid', [model('top', { quality: 1, promptPer1k: 0.001, completionPer1k: 0.001 })]),
      ],
    });
    expect([...recommendedIds(ds, all)]).toEqual(['local/large']);
  });

  it('lets the catalog flag win: exactly the flagged enabled deployments', () => {
    const ds = deploymentsOf({
      gateways: [],
      providers: [
        provider('a', [model('best', { quality: 1, promptPer1k: 0 }), model('pick', { recommended: true })]),
        provider('b', [model('pick', { recommended: true, enabled: false })]),
      ],
    });
    expect([...recommendedIds(ds, all)]).toEqual(['a/pick']);
  });
});
