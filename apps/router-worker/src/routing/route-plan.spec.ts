import {
  ErrorCode,
  GatewayError,
  PDF_BYTES_PER_PAGE,
  PDF_TOKENS_PER_PAGE,
  estimatePromptTokens,
  type ChatMessage,
  type Deployment,
} from '@aigw/core';
import type { CircuitStatus } from '@aigw/routing';
import { deployment, generationRequest } from '../generation/request.fixtures';
import { orderingPolicyOf, planRoute, policyOf, roundRobinKeyOf, routeNeedOf } from './route-plan';
import { isCoolingDown } from './routing-failures';

// cheap < mid < dear; quality: dear best.
const cheap = deployment({ id: 'cheap' }, { name: 'm', promptPer1k: 0.1, completionPer1k: 0.1, quality: 0.2 });
const mid = deployment({ id: 'mid' }, { name: 'm', promptPer1k: 0.5, completionPer1k: 0.5, quality: 0.5 });
const dear = deployment({ id: 'dear' }, { name: 'm', promptPer1k: 1, completionPer1k: 1, quality: 0.9 });
const other = deployment({ id: 'cheap' }, { name: 'other', promptPer1k: 0.01, completionPer1k: 0.01 });
const small = deployment({ id: 'small' }, { name: 'm', promptPer1k: 0.01, completionPer1k: 0.01, contextWindow: 20 });
const all = [dear, mid, cheap, other, small];

const ids = (ds: readonly Deployment[]) => ds.map((d) => d.id);
const closed = new Map<string, CircuitStatus>();
const open = (retryAfterMs: number | null): CircuitStatus => ({
  state: 'open',
  openedAt: 1,
  probesInFlight: 0,
  available: false,
  retryAfterMs,
});

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) {
      return err;
    }
    throw err;
  }
  throw new Error('did not throw');
}

describe('routeNeedOf', () => {
  it('estimates prompt tokens with the tokenizer and completion tokens from max_tokens or the average', () => {
    const request = generationRequest({ model: 'm', messages: [{ role: 'user', content: 'hello there' }] });
    const withAverage = routeNeedOf(request, all, 300);
    expect(withAverage.estimate.promptTokens).toBeGreaterThan(5);
    expect(withAverage.estimate.completionTokens).toBe(300);
    expect(withAverage.need.estimatedTokens).toBe(withAverage.estimate.promptTokens);
    const capped = routeNeedOf({ ...request, options: { maxTokens: 40 } }, all, 300);
    expect(capped.estimate.completionTokens).toBe(40);
    expect(capped.need.estimatedTokens).toBe(capped.estimate.promptTokens + 40);
    // The 20-token window cannot hold prompt + 40.
    expect(ids(capped.selection.candidates)).toEqual(['dear/m', 'mid/m', 'cheap/m']);
  });
});

describe('policyOf', () => {
  const target = (model: string) => routeNeedOf(generationRequest({ model }), all, 10).selection.target;

  it('an alias naming a policy wins, then the request, then the default', () => {
    expect(policyOf(target('cheapest'), generationRequest({ policy: 'quality' }), 'preference')).toEqual({
      policy: 'cost',
      source: 'alias',
    });
    expect(policyOf(target('auto'), generationRequest({ policy: 'latency' }), 'cost')).toEqual({
      policy: 'latency',
      source: 'request',
    });
    expect(policyOf(target('m'), generationRequest(), 'preference')).toEqual({
      policy: 'preference',
      source: 'default',
    });
  });

  it('the preference policy orders by what the preference names, else cost', () => {
    expect(orderingPolicyOf('latency', { then: 'quality' })).toBe('latency');
    expect(orderingPolicyOf('preference', undefined)).toBe('cost');
    expect(orderingPolicyOf('preference', { then: 'round-robin' })).toBe('round-robin');
    expect(orderingPolicyOf('preference', { then: 'preference' })).toBe('cost');
  });

  it('keeps one round-robin counter per candidate set', () => {
    expect(roundRobinKeyOf(target('auto'))).toBe('alias:auto');
    expect(roundRobinKeyOf(target('m'))).toBe('model:m');
    expect(roundRobinKeyOf(target('mid/m'))).toBe('pinned:mid/m');
  });
});

describe('planRoute', () => {
  const need = (model: string, extra: Parameters<typeof generationRequest>[0] = {}) =>
    routeNeedOf(generationRequest({ model, ...extra }), all, 100);

  it.each([
    ['cost', {}, ['cheap/m', 'mid/m', 'dear/m']],
    ['quality', {}, ['dear/m', 'mid/m', 'cheap/m']],
    [
      'latency',
      { recentLatencyMs: new Map([['mid/m', 5]]), historicalLatencyMs: new Map([['dear/m', 9]]) },
      ['mid/m', 'dear/m', 'cheap/m'],
    ],
    ['round-robin', { roundRobinCounter: 4 }, ['mid/m', 'cheap/m', 'dear/m']],
    ['preference', { preferences: { context: 'dear/m', userDefault: 'mid/m' } }, ['dear/m', 'mid/m', 'cheap/m']],
  ] as const)('orders by %s', (policy, signals, expected) => {
    const plan = planRoute(all, need('m', { options: { maxTokens: 40 } }), policy, { circuits: closed, ...signals });
    expect(ids(plan.candidates)).toEqual(expected);
    expect(plan.excluded).toEqual([{ deploymentId: 'small/m', reason: 'context_too_small' }]);
  });

  it('drops deployments whose circuit refuses calls', () => {
    const plan = planRoute(all, need('m'), 'cost', { circuits: new Map([['small/m', open(10)]]) });
    expect(ids(plan.candidates)).toEqual(['cheap/m', 'mid/m', 'dear/m']);
    expect(plan.excluded).toEqual([{ deploymentId: 'small/m', reason: 'circuit_open' }]);
  });

  it('a pin stays first whatever the policy, and alone unless fallback is allowed', () => {
    expect(ids(planRoute(all, need('dear/m'), 'cost', { circuits: closed }).candidates)).toEqual(['dear/m']);
    const fallback = need('dear/m', { allowFallback: true });
    expect(ids(planRoute(all, fallback, 'cost', { circuits: closed }).candidates)).toEqual([
      'dear/m',
      'small/m',
      'cheap/m',
      'mid/m',
    ]);
  });

  it('answers 503 no_healthy_provider with the time to the first half-open when every circuit is open', () => {
    const circuits = new Map([
      ['dear/m', open(9000)],
      ['small/m', open(null)],
    ]);
    const err = thrown(() => planRoute(all, need('dear/m', { allowFallback: false }), 'cost', { circuits }));
    expect(err).toMatchObject({ code: ErrorCode.NoHealthyProvider, retryAfterMs: 9000, param: 'model' });
    expect(err.status).toBe(503);
    const halfOpenFull = new Map([['dear/m', { ...open(null), state: 'half_open' as const }]]);
    expect(thrown(() => planRoute(all, need('dear/m'), 'cost', { circuits: halfOpenFull })).retryAfterMs).toBe(1000);
  });

  it('keeps the answer of the circuits that left deployments out, for a request the others answer without the model', () => {
    const cooling: CircuitStatus = { ...open(4000), state: 'closed', cooldownStatus: 429 };
    const plan = planRoute(all, need('m'), 'cost', { circuits: new Map([['dear/m', cooling]]) });
    expect(ids(plan.candidates)).toEqual(['small/m', 'cheap/m', 'mid/m']);
    const attempts = [{ provider: 'cheap', model: 'm', route: 'direct' as const, ok: false, latencyMs: 5, retries: 0 }];
    const err = plan.heldBack?.(attempts);
    expect(err).toMatchObject({ code: ErrorCode.ProviderRateLimited, retryAfterMs: 4000, attempts });
    // Calls were made: not a refusal an async job waits out and plans again for (isCoolingDown).
    expect(isCoolingDown(err)).toBe(false);
    expect(planRoute(all, need('m'), 'cost', { circuits: closed }).heldBack).toBeNull();
  });

  it('puts deployments of providers the monitor marks failing last, keeping the order of each group', () => {
    const request = need('m', { options: { maxTokens: 40 } });
    const failing = new Set(['cheap', 'mid']);
    expect(ids(planRoute(all, request, 'cost', { circuits: closed, failingProviders: failing }).candidates)).toEqual([
      'dear/m',
      'cheap/m',
      'mid/m',
    ]);
    // Every candidate failing: all of them stay, in policy order.
    const everyone = new Set(['cheap', 'mid', 'dear']);
    expect(ids(planRoute(all, request, 'cost', { circuits: closed, failingProviders: everyone }).candidates)).toEqual([
      'cheap/m',
      'mid/m',
      'dear/m',
    ]);
    // A failing pin falls back to the others first when fallback is allowed.
    const fallback = need('dear/m', { allowFallback: true });
    const plan = planRoute(all, fallback, 'cost', { circuits: closed, failingProviders: new Set(['dear']) });
    expect(ids(plan.candidates)).toEqual(['small/m', 'cheap/m', 'mid/m', 'dear/m']);
  });

  it('puts deployments the monitor found unserved after the others, before those of failing providers', () => {
    const request = need('m', { options: { maxTokens: 40 } });
    const unserved = new Set(['cheap/m']);
    expect(
      ids(planRoute(all, request, 'cost', { circuits: closed, unservedDeployments: unserved }).candidates),
    ).toEqual(['mid/m', 'dear/m', 'cheap/m']);
    const both = { circuits: closed, unservedDeployments: unserved, failingProviders: new Set(['mid']) };
    expect(ids(planRoute(all, request, 'cost', both).candidates)).toEqual(['dear/m', 'cheap/m', 'mid/m']);
    // The only candidate (a pin without fallback) is still called.
    const pinned = need('cheap/m', { allowFallback: false });
    expect(ids(planRoute(all, pinned, 'cost', { circuits: closed, unservedDeployments: unserved }).candidates)).toEqual(
      ['cheap/m'],
    );
  });

  it('gives the selection error when nothing serves the request', () => {
    expect(thrown(() => planRoute(all, need('nope'), 'cost', { circuits: closed })).code).toBe(ErrorCode.ModelNotFound);
    const huge = need('m', { options: { maxTokens: 1_000_000 } });
    expect(thrown(() => planRoute(all, huge, 'cost', { circuits: closed })).code).toBe(ErrorCode.ContextLengthExceeded);
  });
});

describe('a request with a PDF, audio or other file part', () => {
  // cheap and narrow < dear and wide: the cost policy puts the narrow window first.
  const narrow = deployment(
    { id: 'narrow' },
    { name: 'm', promptPer1k: 0.01, completionPer1k: 0.01, contextWindow: 32_000 },
  );
  const middle = deployment(
    { id: 'middle' },
    { name: 'm', promptPer1k: 0.1, completionPer1k: 0.1, contextWindow: 128_000 },
  );
  const wide = deployment({ id: 'wide' }, { name: 'm', promptPer1k: 1, completionPer1k: 1, contextWindow: 200_000 });

  function withPdf(pages: number): ChatMessage[] {
    const data = Buffer.alloc(pages * PDF_BYTES_PER_PAGE, 0x55).toString('base64');
    return [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Summarize this.' },
          { type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${data}` } },
        ],
      },
    ];
  }

  it('counts the parts in the estimate, for the context window, the cost ranking and the stream start', () => {
    const messages = withPdf(32);
    const route = routeNeedOf(generationRequest({ model: 'm', messages, options: { maxTokens: 100 } }), [narrow], 10);
    expect(route.estimate.promptTokens).toBe(estimatePromptTokens(messages) + 32 * PDF_TOKENS_PER_PAGE);
    expect(route.need.estimatedTokens).toBe(route.estimate.promptTokens + 100);
  });

  it('goes first to a deployment whose window holds them (a 32-page PDF went to the 32k window and failed there)', () => {
    const request = generationRequest({ model: 'm', messages: withPdf(32), options: { maxTokens: 100 } });
    const ds = [narrow, middle, wide];
    const plan = planRoute(ds, routeNeedOf(request, ds, 10), 'cost', { circuits: closed });
    expect(ids(plan.candidates)).toEqual(['middle/m', 'wide/m', 'narrow/m']);
    expect(plan.excluded).toEqual([]);
  });

  it('keeps, roomiest first, the windows too small for their rough estimate when no window holds it', () => {
    // 100 pages, 300,000 tokens by the estimate: a scan of 30 real pages weighs as much, and fits them all.
    const request = generationRequest({ model: 'm', messages: withPdf(100), options: { maxTokens: 100 } });
    const ds = [narrow, middle, wide];
    const plan = planRoute(ds, routeNeedOf(request, ds, 10), 'cost', { circuits: closed });
    expect(ids(plan.candidates)).toEqual(['wide/m', 'middle/m', 'narrow/m']);
  });

  it('puts a failing provider last among the windows too small for the estimate, as everywhere else', () => {
    const request = generationRequest({ model: 'm', messages: withPdf(100), options: { maxTokens: 100 } });
    const ds = [narrow, middle, wide];
    const failingProviders = new Set([wide.provider.id]);
    const plan = planRoute(ds, routeNeedOf(request, ds, 10), 'cost', { circuits: closed, failingProviders });
    expect(ids(plan.candidates)).toEqual(['middle/m', 'narrow/m', 'wide/m']);
  });

  it('counts an image by its size: a window that holds it only at the fixed 765 tokens goes after a roomier one', () => {
    // Found by review: admission reserved a 2048×2048 image at 2,322 tokens (Gemini's 9 tiles), routing at 765.
    const header = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
    header.writeUInt32BE(13, 8);
    header.write('IHDR', 12, 'latin1');
    header.writeUInt32BE(2048, 16);
    header.writeUInt32BE(2048, 20);
    const url = `data:image/png;base64,${header.toString('base64')}`;
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe it.' },
          { type: 'image_url', image_url: { url } },
        ],
      },
    ];
    const vision = { capabilities: ['chat' as const, 'streaming' as const, 'vision' as const] };
    const tiny = deployment(
      { id: 'tiny' },
      { name: 'm', promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 2_000, ...vision },
    );
    const roomy = deployment(
      { id: 'roomy' },
      { name: 'm', promptPer1k: 1, completionPer1k: 1, contextWindow: 128_000, ...vision },
    );
    const request = generationRequest({ model: 'm', messages, options: { maxTokens: 100 } });
    const route = routeNeedOf(request, [tiny, roomy], 10);
    expect(route.estimate.promptTokens).toBe(estimatePromptTokens(messages) + 9 * 258 - 765);
    const plan = planRoute([tiny, roomy], route, 'cost', { circuits: closed });
    expect(ids(plan.candidates)).toEqual(['roomy/m', 'tiny/m']);
  });

  it('still refuses what its text alone makes too long for every window (400 context_length_exceeded)', () => {
    const messages = [...withPdf(1), { role: 'user' as const, content: 'word '.repeat(40_000) }];
    const request = generationRequest({ model: 'm', messages });
    const err = thrown(() => planRoute([narrow], routeNeedOf(request, [narrow], 10), 'cost', { circuits: closed }));
    expect(err).toMatchObject({ code: ErrorCode.ContextLengthExceeded, param: 'messages' });
  });
});
