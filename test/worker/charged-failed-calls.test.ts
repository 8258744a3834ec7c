import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NO_LIMITS, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

const CHARGED = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 };
const ANSWERED = { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 };

/**
 * An OpenAI-compatible server (Mistral, vLLM behind a proxy) that answers 200 with `finish_reason: "error"` and the
 * usage it bills: the generation failed, but its tokens were consumed and charged. `script` says, call by call,
 * whether it fails so ('error') or answers ('ok'); past its end it fails.
 */
class ChargingFailer {
  script: ('error' | 'ok')[] = [];
  calls = 0;
  url = '';
  private server: Server | null = null;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const how = this.script[this.calls++] ?? 'error';
        if ((JSON.parse(body) as { stream?: boolean }).stream === true && how === 'error') {
          // As OpenAI-compatible servers stream it with include_usage: the finish chunk, then the usage chunk.
          const head = { id: `chatcmpl-${this.calls}`, object: 'chat.completion.chunk', created: 1, model: 'shared' };
          const chunks = [
            { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
            { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'error' }] },
            { ...head, choices: [], usage: CHARGED },
          ];
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(`${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: `chatcmpl-${this.calls}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: 'shared',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: how === 'ok' ? 'fine' : 'half an ans' },
                finish_reason: how === 'ok' ? 'stop' : 'error',
              },
            ],
            usage: how === 'ok' ? ANSWERED : CHARGED,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** pv/shared: $0.01 per 1k prompt tokens, $0.02 per 1k completion tokens. */
const PV_CHARGE = (1000 * 0.01 + 500 * 0.02) / 1000;

/**
 * A provider call that ended with `finish_reason: "error"` is retried and failed over, but its provider billed the
 * tokens it reported: they land in usage_records (on the row of the deployment that charged them) and in the user's
 * spend, once each, beside the answer that came after.
 */
describe('failed calls a provider charged for', () => {
  const failer = new ChargingFailer();
  const h = new WorkerHarness({
    env: { ROUTING_DEFAULT_POLICY: 'cost', RETRY_MAX: '1', RETRY_BASE_MS: '10', RETRY_MIN_CALL_MS: '100' },
    catalog: (simUrl) => `providers:
  - id: pv
    kind: openai
    baseUrl: ${failer.url}/v1
    apiKey: sk-pv-secret
    timeoutMs: 10000
    models:
      - { name: shared, promptPer1k: 0.01, completionPer1k: 0.02, contextWindow: 8192 }
      - { name: solo, promptPer1k: 0.01, completionPer1k: 0.02, contextWindow: 8192 }
  - id: sim-openai
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-sim-openai-secret
    timeoutMs: 10000
    models:
      - { name: shared, promptPer1k: 0.1, completionPer1k: 0.2, contextWindow: 8192 }
`,
  });
  let admission: AdmissionStore;
  let counters: QuotaCountersStore;

  beforeAll(async () => {
    await failer.start();
    await h.start();
    const keys = new GovernanceKeys(h.prefix);
    admission = new AdmissionStore(h.producer, keys);
    counters = new QuotaCountersStore(h.producer, keys);
    await counters.markRebuilt(Date.now());
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await failer.stop();
  }, 30_000);

  async function reserve(userId: string): Promise<Reservation> {
    const verdict = await admission.admit({
      keyId: `${userId}-key`,
      userId,
      limits: { ...NO_LIMITS, dailySpendLimitUsd: 50 },
      tokens: 5000,
      reserveUsd: 1,
      now: Date.now(),
    });
    if (verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${verdict.kind}`);
    }
    return verdict.reservation;
  }

  interface Row {
    request_id: string;
    attempt_of: string | null;
    provider: string;
    status: string;
    prompt_tokens: number;
    completion_tokens: number;
    cost_usd: string;
  }

  async function rowsOf(requestId: string, count: number): Promise<Row[]> {
    return waitFor(
      async () => {
        const rows = await h.query<Row>(
          'SELECT * FROM usage_records WHERE request_id = $1 OR attempt_of = $1 ORDER BY request_id',
          [requestId],
        );
        return rows.length >= count ? rows : undefined;
      },
      { timeoutMs: 10_000, message: `no usage rows for ${requestId}` },
    );
  }

  const spend = async (userId: string): Promise<number> => (await counters.read(userId, Date.now())).dailySpendUsd;
  const total = (rows: Row[]): number => rows.reduce((sum, r) => sum + Number(r.cost_usd), 0);

  it('bills the calls of a deployment it fell back from on that deployment’s attempt row, and settles them', async () => {
    failer.script = [];
    failer.calls = 0;
    const userId = randomUUID();
    const reservation = await reserve(userId);
    const job = await h.enqueueSync({ model: 'shared', userId, reservation });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'result', result: { provider: 'sim-openai' } });
    // The first call and its retry both failed with finish_reason "error", both billed by pv.
    expect(failer.calls).toBe(2);
    const rows = await rowsOf(job.data.request.requestId, 2);
    expect(rows).toHaveLength(2);
    const [request, attempt] = rows;
    expect(request).toMatchObject({ attempt_of: null, provider: 'sim-openai', status: 'success' });
    expect(attempt).toMatchObject({ attempt_of: job.data.request.requestId, provider: 'pv', status: 'error' });
    expect([attempt.prompt_tokens, attempt.completion_tokens]).toEqual([2000, 1000]);
    expect(Number(attempt.cost_usd)).toBeCloseTo(2 * PV_CHARGE, 9);
    // The answer's own usage, not counted twice.
    const answered = (replies.at(-1) as { result: { costUsd: number } }).result.costUsd;
    expect(Number(request.cost_usd)).toBeCloseTo(answered, 9);
    await waitFor(async () => Math.abs((await spend(userId)) - total(rows)) < 1e-9, {
      timeoutMs: 5_000,
      message: 'the spend counter does not hold what was billed',
    });
  }, 30_000);

  it('bills a retried call of the deployment that then answered on the request’s row', async () => {
    failer.script = ['error', 'ok'];
    failer.calls = 0;
    const userId = randomUUID();
    const reservation = await reserve(userId);
    const job = await h.enqueueSync({ model: 'shared', userId, reservation });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'result', result: { provider: 'pv' } });
    const rows = await rowsOf(job.data.request.requestId, 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ provider: 'pv', status: 'success', prompt_tokens: 1100, completion_tokens: 550 });
    expect(Number(rows[0].cost_usd)).toBeCloseTo(PV_CHARGE + (100 * 0.01 + 50 * 0.02) / 1000, 9);
    await waitFor(async () => Math.abs((await spend(userId)) - total(rows)) < 1e-9, {
      timeoutMs: 5_000,
      message: 'the spend counter does not hold what was billed',
    });
  }, 30_000);

  it('bills them on a request that failed in the end', async () => {
    failer.script = [];
    failer.calls = 0;
    const userId = randomUUID();
    const reservation = await reserve(userId);
    const job = await h.enqueueSync({ model: 'solo', userId, reservation });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'error' });
    const rows = await rowsOf(job.data.request.requestId, 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ provider: 'pv', status: 'error', prompt_tokens: 2000, completion_tokens: 1000 });
    expect(Number(rows[0].cost_usd)).toBeCloseTo(2 * PV_CHARGE, 9);
    await waitFor(async () => Math.abs((await spend(userId)) - 2 * PV_CHARGE) < 1e-9, {
      timeoutMs: 5_000,
      message: 'the spend counter does not hold what was billed',
    });
  }, 30_000);

  it('bills a streamed call that ended so, from the usage chunk after its finish', async () => {
    failer.script = [];
    failer.calls = 0;
    const userId = randomUUID();
    const reservation = await reserve(userId);
    const job = await h.enqueueSync({ model: 'shared', userId, reservation, stream: true });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'end', result: { provider: 'sim-openai' } });
    expect(failer.calls).toBe(2);
    const rows = await rowsOf(job.data.request.requestId, 2);
    expect(rows[1]).toMatchObject({ provider: 'pv', status: 'error', prompt_tokens: 2000, completion_tokens: 1000 });
    expect(Number(rows[1].cost_usd)).toBeCloseTo(2 * PV_CHARGE, 9);
    await waitFor(async () => Math.abs((await spend(userId)) - total(rows)) < 1e-9, {
      timeoutMs: 5_000,
      message: 'the spend counter does not hold what was billed',
    });
  }, 30_000);
});
