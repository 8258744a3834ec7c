import type { Capability, Deployment, ModelSpec } from '../catalog';
import type { RoutingPolicy } from '../domain';
import {
  byCost,
  byLatency,
  byPreference,
  byQuality,
  estimatedCostUsd,
  orderCandidates,
  policyOfAlias,
  preferenceMatchOf,
  preferredFirst,
  resolvePolicy,
  roundRobin,
  type TokenEstimate,
} from './policies';

function deployment(providerId: string, modelName: string, model: Partial<Omit<ModelSpec, 'name'>> = {}): Deployment {
  const m: ModelSpec = {
    name: modelName,
    contextWindow: 128_000,
    capabilities: ['chat', 'streaming'] as Capability[],
    enabled: true,
    promptPer1k: 1,
    completionPer1k: 1,
    ...model,
  };
  return {
    id: `${providerId}/${modelName}`,
    provider: {
      id: providerId,
      kind: 'openai',
      baseUrl: 'http://127.0.0.1:1',
      enabled: true,
      timeoutMs: 30_000,
      maxConnections: 10,
      routing: 'direct',
      models: [m],
    },
    model: m,
  };
}

const ids = (ds: readonly Deployment[]): string[] => ds.map((d) => d.id);
const est: TokenEstimate = { promptTokens: 1000, completionTokens: 500 };

// Estimated costs at `est` (USD): a 2.0, b 0.75, c 0.75, d 3.5.
const a = deployment('p1', 'a', { promptPer1k: 1, completionPer1k: 2, quality: 0.9 });
const b = deployment('p2', 'b', { promptPer1k: 0.5, completionPer1k: 0.5, quality: 0.6 });
const c = deployment('p3', 'c', { promptPer1k: 0.25, completionPer1k: 1 });
const d = deployment('p4', 'd', { promptPer1k: 2.5, completionPer1k: 2, quality: 0.9 });
const all = [a, b, c, d];

describe('estimatedCostUsd', () => {
  it('prices prompt and completion per 1K tokens', () => {
    expect(estimatedCostUsd(a, est)).toBeCloseTo(2.0);
    expect(estimatedCostUsd(b, est)).toBeCloseTo(0.75);
    expect(estimatedCostUsd(c, est)).toBeCloseTo(0.75);
    expect(estimatedCostUsd(d, est)).toBeCloseTo(3.5);
  });

  it('depends on the estimate: a long completion favours cheap completion prices', () => {
    const longAnswer: TokenEstimate = { promptTokens: 100, completionTokens: 10_000 };
    expect(ids(byCost([a, b, c], longAnswer))).toEqual(['p2/b', 'p3/c', 'p1/a']);
    const longPrompt: TokenEstimate = { promptTokens: 100_000, completionTokens: 10 };
    expect(ids(byCost([a, b, c], longPrompt))).toEqual(['p3/c', 'p2/b', 'p1/a']);
  });
});

describe('byCost', () => {
  it('orders cheapest first and keeps input order among equal costs', () => {
    expect(ids(byCost(all, est))).toEqual(['p2/b', 'p3/c', 'p1/a', 'p4/d']);
    expect(ids(byCost([d, c, b, a], est))).toEqual(['p3/c', 'p2/b', 'p1/a', 'p4/d']);
  });

  it('returns a new array and leaves the input alone', () => {
    const input = [d, a];
    const out = byCost(input, est);
    expect(out).not.toBe(input);
    expect(ids(input)).toEqual(['p4/d', 'p1/a']);
  });

  it('handles empty and single lists', () => {
    expect(byCost([], est)).toEqual([]);
    expect(ids(byCost([a], est))).toEqual(['p1/a']);
  });
});

describe('byLatency', () => {
  it('orders by recent latency, falling back to historical per deployment', () => {
    const recent = new Map([
      ['p1/a', 300],
      ['p2/b', 100],
    ]);
    const historical = new Map([
      ['p1/a', 50], // ignored: a has a recent value
      ['p3/c', 200],
    ]);
    expect(ids(byLatency([a, b, c], recent, historical, est))).toEqual(['p2/b', 'p3/c', 'p1/a']);
  });

  it('puts unknown latencies after known ones, cheapest first among the unknown', () => {
    const recent = new Map([['p4/d', 5000]]);
    expect(ids(byLatency(all, recent, new Map(), est))).toEqual(['p4/d', 'p2/b', 'p3/c', 'p1/a']);
  });

  it('breaks latency ties by cost, then input order', () => {
    const recent = new Map([
      ['p1/a', 100],
      ['p2/b', 100],
      ['p3/c', 100],
    ]);
    expect(ids(byLatency([a, c, b], recent, new Map(), est))).toEqual(['p3/c', 'p2/b', 'p1/a']);
  });

  it('treats non-finite or negative measurements as unknown', () => {
    const recent = new Map([
      ['p1/a', Number.NaN],
      ['p2/b', -5],
      ['p3/c', Infinity],
      ['p4/d', 900],
    ]);
    expect(ids(byLatency(all, recent, new Map(), est))).toEqual(['p4/d', 'p2/b', 'p3/c', 'p1/a']);
  });
});

describe('byQuality', () => {
  it('orders best first; missing quality counts as 0.5; ties by cost', () => {
    const low = deployment('p5', 'low', { quality: 0.2 });
    // a and d tie at 0.9 (a is cheaper), b 0.6, c unscored (0.5), low 0.2
    expect(ids(byQuality([low, c, d, b, a], est))).toEqual(['p1/a', 'p4/d', 'p2/b', 'p3/c', 'p5/low']);
  });
});

describe('roundRobin', () => {
  it('rotates the list by the counter modulo its length', () => {
    expect(ids(roundRobin(all, 0))).toEqual(['p1/a', 'p2/b', 'p3/c', 'p4/d']);
    expect(ids(roundRobin(all, 1))).toEqual(['p2/b', 'p3/c', 'p4/d', 'p1/a']);
    expect(ids(roundRobin(all, 6))).toEqual(['p3/c', 'p4/d', 'p1/a', 'p2/b']);
  });

  it('survives negative, huge and non-finite counters, and empty lists', () => {
    expect(ids(roundRobin(all, -1))).toEqual(['p4/d', 'p1/a', 'p2/b', 'p3/c']);
    expect(roundRobin(all, 2 ** 53)).toHaveLength(4);
    expect(ids(roundRobin(all, Number.NaN))).toEqual(ids(all));
    expect(roundRobin([], 7)).toEqual([]);
  });

  it('spreads consecutive counters evenly over the first position', () => {
    const first = new Map<string, number>();
    for (let counter = 0; counter < 400; counter++) {
      const id = roundRobin(all, counter)[0].id;
      first.set(id, (first.get(id) ?? 0) + 1);
    }
    expect([...first.values()]).toEqual([100, 100, 100, 100]);
  });
});

describe('byPreference', () => {
  it('context preference, then user default, then system default, then the rest by cost', () => {
    const prefs = { context: 'p4/d', userDefault: 'a', systemDefault: 'p3/c' };
    expect(ids(byPreference([b, c, a, d], prefs, est))).toEqual(['p4/d', 'p1/a', 'p3/c', 'p2/b']);
  });

  it('a model-name preference matches every deployment serving it, cheapest first', () => {
    const x1 = deployment('p1', 'x', { promptPer1k: 3 });
    const x2 = deployment('p2', 'x', { promptPer1k: 1 });
    expect(ids(byPreference([a, x1, x2], { userDefault: 'x' }, est))).toEqual(['p2/x', 'p1/x', 'p1/a']);
  });

  it('orders within each group by the policy the preference names', () => {
    // Quality: a 0.9, d 0.9 (a cheaper), b 0.6, c 0.5 (default).
    const prefs = { userDefault: 'p3/c', then: 'quality' as const };
    expect(ids(orderCandidates('preference', all, { estimate: est, preferences: prefs }))).toEqual([
      'p3/c',
      'p1/a',
      'p4/d',
      'p2/b',
    ]);
    const rr = { estimate: est, roundRobinCounter: 1, preferences: { context: 'p1/a', then: 'round-robin' as const } };
    expect(ids(orderCandidates('preference', all, rr))).toEqual(['p1/a', 'p2/b', 'p3/c', 'p4/d']);
    expect(ids(orderCandidates('preference', all, { ...rr, pinnedId: 'p4/d' }))).toEqual([
      'p4/d',
      'p1/a',
      'p2/b',
      'p3/c',
    ]);
  });

  it('treats then: preference or cost as the plain cost order', () => {
    for (const then of ['preference', 'cost', null] as const) {
      const prefs = { context: 'p4/d', then };
      expect(ids(orderCandidates('preference', all, { estimate: est, preferences: prefs }))).toEqual(
        ids(byPreference(all, prefs, est)),
      );
    }
  });

  it('preferredFirst keeps the given order within each group', () => {
    expect(ids(preferredFirst([d, c, b, a], { userDefault: 'p2/b', systemDefault: 'c' }))).toEqual([
      'p2/b',
      'p3/c',
      'p4/d',
      'p1/a',
    ]);
  });

  it('preferences naming nothing among the candidates have no effect', () => {
    expect(ids(byPreference(all, { context: 'gone/model', userDefault: null }, est))).toEqual(ids(byCost(all, est)));
    expect(ids(byPreference(all, {}, est))).toEqual(ids(byCost(all, est)));
  });
});

describe('orderCandidates', () => {
  const inputs = {
    estimate: est,
    latencyMs: new Map([['p1/a', 10]]),
    roundRobinCounter: 3,
    preferences: { context: 'p3/c' },
  };

  it.each<[RoutingPolicy, string[]]>([
    ['cost', ['p2/b', 'p3/c', 'p1/a', 'p4/d']],
    ['latency', ['p1/a', 'p2/b', 'p3/c', 'p4/d']],
    ['quality', ['p1/a', 'p4/d', 'p2/b', 'p3/c']],
    ['round-robin', ['p4/d', 'p1/a', 'p2/b', 'p3/c']],
    ['preference', ['p3/c', 'p2/b', 'p1/a', 'p4/d']],
  ])('%s', (policy, expected) => {
    expect(ids(orderCandidates(policy, all, inputs))).toEqual(expected);
  });

  it('keeps a pinned deployment first whatever the policy', () => {
    expect(ids(orderCandidates('cost', all, { ...inputs, pinnedId: 'p4/d' }))).toEqual([
      'p4/d',
      'p2/b',
      'p3/c',
      'p1/a',
    ]);
  });

  it('is deterministic for any input order when keys are distinct', () => {
    const shuffled = [c, a, d, b];
    expect(
      ids(
        orderCandidates('latency', shuffled, {
          estimate: est,
          latencyMs: new Map([
            ['p2/b', 1],
            ['p4/d', 2],
          ]),
        }),
      ),
    ).toEqual(
      ids(
        orderCandidates('latency', all, {
          estimate: est,
          latencyMs: new Map([
            ['p2/b', 1],
            ['p4/d', 2],
          ]),
        }),
      ),
    );
  });
});

describe('policy resolution', () => {
  it('maps aliases to policies', () => {
    expect(policyOfAlias('cheapest')).toBe('cost');
    expect(policyOfAlias('fastest')).toBe('latency');
    expect(policyOfAlias('best')).toBe('quality');
    expect(policyOfAlias('auto')).toBeNull();
  });

  it('an explicit alias wins; otherwise request, then key, then default', () => {
    const sources = { request: 'round-robin' as const, apiKey: 'quality' as const, fallback: 'cost' as const };
    expect(resolvePolicy({ kind: 'alias', alias: 'fastest' }, sources)).toBe('latency');
    expect(resolvePolicy({ kind: 'alias', alias: 'auto' }, sources)).toBe('round-robin');
    expect(resolvePolicy({ kind: 'model', model: 'gpt-4o' }, { apiKey: 'quality', fallback: 'cost' })).toBe('quality');
    expect(resolvePolicy({ kind: 'alias', alias: 'auto' }, { request: null, fallback: 'preference' })).toBe(
      'preference',
    );
  });
});

describe('preferenceMatchOf', () => {
  it('names the most specific link a deployment matches: by deployment id or by model name', () => {
    expect(preferenceMatchOf(a, { context: 'p1/a', userDefault: 'p1/a' })).toBe('context');
    expect(preferenceMatchOf(a, { context: 'p2/b', userDefault: 'a' })).toBe('userDefault');
    expect(preferenceMatchOf(a, { context: null, userDefault: 'p2/b', systemDefault: 'p1/a' })).toBe('systemDefault');
    expect(preferenceMatchOf(a, { context: 'p2/b', userDefault: null, systemDefault: null })).toBeNull();
    expect(preferenceMatchOf(a, {})).toBeNull();
  });
});
