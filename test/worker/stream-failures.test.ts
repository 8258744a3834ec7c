import 'reflect-metadata';
import type { ReplyMessage } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/** One deployment of each provider family, all served by the simulator in their own wire formats. */
function catalog(simUrl: string): string {
  // id, kind, base URL path, API key (none for self-hosted servers), timeout, model
  const deployments: [string, string, string, string | null, number, string][] = [
    ['sim-openai', 'openai', '/v1', 'sk-sim-openai-secret', 10_000, 'sim-gpt'],
    ['sim-impatient', 'openai', '/v1', 'sk-sim-impatient-secret', 300, 'sim-impatient'],
    ['sim-anthropic', 'anthropic', '', 'sk-sim-anthropic-secret', 10_000, 'sim-claude'],
    ['sim-gemini', 'gemini', '/v1beta', 'AIzaSy-sim-secret', 10_000, 'sim-gemini'],
    ['sim-ollama', 'ollama', '', null, 10_000, 'sim-llama'],
    ['sim-tgi', 'tgi', '', null, 10_000, 'sim-tgi'],
  ];
  const providers = deployments.map(([id, kind, base, apiKey, timeoutMs, model]) =>
    [
      `  - id: ${id}`,
      `    kind: ${kind}`,
      `    baseUrl: ${simUrl}${base}`,
      ...(apiKey === null ? [] : [`    apiKey: ${apiKey}`]),
      `    timeoutMs: ${timeoutMs}`,
      '    models:',
      `      - { name: ${model}, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }`,
    ].join('\n'),
  );
  return `providers:\n${providers.join('\n')}\n`;
}

/** Family, model, and whether the provider reports usage (an OpenAI-compatible server may not). */
const FAMILIES: [string, string, boolean][] = [
  ['OpenAI', 'sim-gpt', true],
  ['OpenAI-compatible without usage', 'sim-gpt', false],
  ['Anthropic', 'sim-claude', true],
  ['Gemini', 'sim-gemini', true],
  ['Ollama', 'sim-llama', true],
  ['TGI', 'sim-tgi', true],
];

function textOf(replies: ReplyMessage[]): string {
  return replies
    .filter((m): m is Of<'chunk'> => m.t === 'chunk')
    .map((c) => c.text ?? '')
    .join('');
}

describe('router-worker: streams that fail part-way, per provider family (simulator)', () => {
  // Retries allowed (and quick): a failure the client saw nothing of would be retried, one it saw part of must not.
  const h = new WorkerHarness({ env: { RETRY_MAX: '2', RETRY_BASE_MS: '10' }, catalog });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => {
    h.sim.configure({
      latencyMs: 0,
      chunkDelayMs: 0,
      failNext: 0,
      failMode: 'status',
      completionTokens: 12,
      echo: false,
    });
    h.sim.reset();
  });

  async function usageRow(requestId: string): Promise<Record<string, unknown>> {
    const [row] = await waitFor(async () => {
      const rows = await h.usageRows([requestId]);
      return rows.length === 1 ? rows : null;
    });
    return row;
  }

  /** How a stream fails after its third chunk: an in-band error event, an event cut off mid-JSON, a dropped socket. */
  const FAULTS = ['error_mid_stream', 'malformed', 'drop_mid_stream'] as const;

  it.each(FAULTS.flatMap((fault) => FAMILIES.map(([family, model, usage]) => [family, fault, model, usage] as const)))(
    '%s, %s: the deltas read with the failure reach the client before the error, and are billed',
    async (_family, fault, model, reportUsage) => {
      h.sim.configure({ reportUsage });
      const whole = textOf(await h.finalReplies((await h.enqueue({ model, stream: true })).id!));
      h.sim.reset();
      // No chunk delay: the simulator writes the chunks and the failure at once, so they arrive in one read.
      h.sim.configure({ failNext: 1, failMode: fault, failAfterChunks: 3, failStatus: [500] });
      const job = await h.enqueue({ model, stream: true });
      const replies = await h.finalReplies(job.id!);

      expect(replies.map((m) => m.t)).toEqual(['start', ...replies.slice(1, -1).map(() => 'chunk'), 'error']);
      const chunks = replies.filter((m): m is Of<'chunk'> => m.t === 'chunk');
      expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
      const partial = textOf(replies);
      expect(partial.length).toBeGreaterThan(0);
      expect(whole.startsWith(partial)).toBe(true);
      expect((replies.at(-1) as Of<'error'>).error.attempts).toHaveLength(1);
      // Committed: neither retried nor sent elsewhere.
      expect(h.sim.stats().total).toBe(1);

      const row = await usageRow(job.data.request.requestId);
      expect(Number(row.completion_tokens)).toBeGreaterThan(0);
      expect(Number(row.cost_usd)).toBeGreaterThan(0);
    },
  );

  it.each(FAMILIES)(
    '%s: a client that leaves mid-stream cancels the provider call and pays for what was streamed',
    async (_family, model, reportUsage) => {
      h.sim.configure({ reportUsage, completionTokens: 200, chunkDelayMs: 40 });
      const job = await h.enqueue({ model, stream: true });
      await waitFor(() => h.repliesOf(job.id!).filter((m) => m.t === 'chunk').length >= 2, { timeoutMs: 10_000 });
      await h.cancel(job.id!, 'client_disconnected');
      await waitFor(() => h.sim.stats().cancelled === 1, { timeoutMs: 5000, message: 'provider call not cancelled' });
      await expect(h.outcome(job.id!)).resolves.toMatchObject({ ok: false });

      const row = await usageRow(job.data.request.requestId);
      expect(row.error_class).toBe('cancelled');
      expect(Number(row.completion_tokens)).toBeGreaterThan(0);
      expect(Number(row.completion_tokens)).toBeLessThan(200);
      expect(Number(row.cost_usd)).toBeGreaterThan(0);
      expect(h.sim.stats().total).toBe(1);
    },
  );

  it.each(FAMILIES)(
    '%s: a stream that failed before any content (its opening events only) is tried again, not ended',
    async (_family, model, reportUsage) => {
      // The OpenAI wire opens with a chunk that carries only the role, Anthropic's with message_start: nothing to show.
      h.sim.configure({
        reportUsage,
        failNext: 1,
        failMode: 'error_mid_stream',
        failAfterChunks: 0,
        failStatus: [500],
      });
      const job = await h.enqueue({ model, stream: true });
      const replies = await h.finalReplies(job.id!);
      expect(replies.filter((m) => m.t === 'start')).toHaveLength(1);
      expect(replies.at(-1)).toMatchObject({ t: 'end' });
      const { result } = replies.at(-1) as Of<'end'>;
      expect(result.attempts).toMatchObject([{ ok: true, retries: 1 }]);
      expect(textOf(replies)).toBe(result.text);
      expect(h.sim.stats().total).toBe(2);
    },
  );

  it('Gemini: an in-stream UNAVAILABLE before any content is the provider out of room, as its HTTP 503 is', async () => {
    // `data: {"error":{"code":503,"status":"UNAVAILABLE",...}}` as the stream's first event (nothing reached the
    // client): retried, then answered as every provider lacking room (503, a retry a little later likely succeeds),
    // not as a provider fault (502, told not to retry). Four failures in all: under the breaker's five in a row.
    h.sim.configure({ failRate: 1, failMode: 'error_mid_stream', failAfterChunks: 0, failStatus: [503] });
    try {
      const job = await h.enqueue({ model: 'sim-gemini', stream: true });
      const replies = await h.finalReplies(job.id!);
      expect(replies.filter((m) => m.t === 'chunk')).toHaveLength(0);
      expect(replies.at(-1)).toMatchObject({
        t: 'error',
        retryAfterMs: 1000,
        error: {
          code: 'all_providers_overloaded',
          type: 'service_unavailable_error',
          // No HTTP status (the stream's was 200): named overloaded, as Claude's overloaded_error event is.
          attempts: [{ provider: 'sim-gemini', ok: false, errorClass: 'provider', overloaded: true, retries: 2 }],
        },
      });
      expect(h.sim.stats().total).toBe(3);

      // After content reached the client there is no falling back: the stream ends saying the provider is overloaded.
      h.sim.reset();
      h.sim.configure({ failRate: 0, failNext: 1, failAfterChunks: 3 });
      const cut = await h.finalReplies((await h.enqueue({ model: 'sim-gemini', stream: true })).id!);
      expect(textOf(cut).length).toBeGreaterThan(0);
      expect(cut.at(-1)).toMatchObject({
        t: 'error',
        error: { code: 'provider_overloaded', type: 'service_unavailable_error' },
      });
      expect(h.sim.stats().total).toBe(1);
    } finally {
      h.sim.configure({ failRate: 0, failNext: 0 });
    }
  });

  it('ends a stream whose provider went quiet after its first chunks with an error event, and bills what came', async () => {
    // Chunks 1 s apart against an idle timeout of 300 ms: the first read holds the opening and the first token.
    h.sim.configure({ chunkDelayMs: 1000 });
    const job = await h.enqueue({ model: 'sim-impatient', stream: true });
    const replies = await h.finalReplies(job.id!);
    expect(replies[0]).toMatchObject({ t: 'start' });
    expect(textOf(replies).length).toBeGreaterThan(0);
    // Past the first chunk a failure of any class ends as provider_error (midStreamFailure), its class in the attempt.
    expect(replies.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'provider_error', attempts: [{ ok: false, errorClass: 'timeout' }] },
    });
    const row = await usageRow(job.data.request.requestId);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
    await waitFor(() => h.sim.stats().inFlight === 0, { timeoutMs: 5000, message: 'the provider call still runs' });
    expect(h.sim.stats().total).toBe(1);
  });
});
