import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NO_LIMITS, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

/**
 * What Claude reports for a prompt of 100 uncached tokens, 1,000 tokens read from its cache and 3,000 written to it,
 * 2,000 of them under a `cache_control` with `ttl: "1h"` (`cache_creation` splits the writes by how long they live).
 */
const USAGE = {
  input_tokens: 100,
  cache_read_input_tokens: 1000,
  cache_creation_input_tokens: 3000,
  cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  output_tokens: 50,
};

/** claude-x: $3 per 1M input, $0.30 cache read, $3.75 cache write (5 minutes), $15 per 1M output. */
const PRICE = { prompt: 0.003, cached: 0.0003, write: 0.00375, completion: 0.015 };

/**
 * Anthropic's list: a write to the 5-minute cache costs 1.25x the input price, one to the 1-hour cache 2x. Billed at
 * the 5-minute rate, every 1-hour write was charged 37.5% under what Claude took (and under the user's spend limit).
 */
const BILLED =
  (100 * PRICE.prompt + 1000 * PRICE.cached + 1000 * PRICE.write + 2000 * 2 * PRICE.prompt + 50 * PRICE.completion) /
  1000;

/** A Messages API server answering every call with USAGE, whole or streamed (usage in message_start and message_delta). */
class ClaudeServer {
  url = '';
  private server: Server | null = null;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x' };
        if ((JSON.parse(body) as { stream?: boolean }).stream === true) {
          const { output_tokens: _output, ...prompt } = USAGE;
          const events: [string, unknown][] = [
            [
              'message_start',
              { type: 'message_start', message: { ...message, content: [], usage: { ...prompt, output_tokens: 1 } } },
            ],
            [
              'content_block_start',
              { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
            ],
            [
              'content_block_delta',
              { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'fine' } },
            ],
            ['content_block_stop', { type: 'content_block_stop', index: 0 }],
            ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: USAGE }],
            ['message_stop', { type: 'message_stop' }],
          ];
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join(''));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            ...message,
            content: [{ type: 'text', text: 'fine' }],
            stop_reason: 'end_turn',
            usage: USAGE,
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

/** Claude's 1-hour cache writes are billed at twice the input price, in the usage row and the spend counters alike. */
describe('Claude cache writes by time to live', () => {
  const claude = new ClaudeServer();
  const h = new WorkerHarness({
    catalog: () => `providers:
  - id: claude
    kind: anthropic
    baseUrl: ${claude.url}
    apiKey: sk-claude-secret
    timeoutMs: 10000
    models:
      - name: claude-x
        promptPer1k: ${PRICE.prompt}
        completionPer1k: ${PRICE.completion}
        cachedPromptPer1k: ${PRICE.cached}
        cacheWritePer1k: ${PRICE.write}
        contextWindow: 200000
`,
  });
  let admission: AdmissionStore;
  let counters: QuotaCountersStore;

  beforeAll(async () => {
    await claude.start();
    await h.start();
    const keys = new GovernanceKeys(h.prefix);
    admission = new AdmissionStore(h.producer, keys);
    counters = new QuotaCountersStore(h.producer, keys);
    await counters.markRebuilt(Date.now());
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await claude.stop();
  }, 30_000);

  async function reserve(userId: string): Promise<Reservation> {
    const verdict = await admission.admit({
      keyId: `${userId}-key`,
      userId,
      limits: { ...NO_LIMITS, dailySpendLimitUsd: 50 },
      tokens: 10_000,
      reserveUsd: 1,
      now: Date.now(),
    });
    if (verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${verdict.kind}`);
    }
    return verdict.reservation;
  }

  for (const stream of [false, true]) {
    it(`bills the 1-hour writes of a ${stream ? 'streamed' : 'whole'} answer at twice the input price`, async () => {
      const userId = randomUUID();
      const job = await h.enqueueSync({ model: 'claude-x', userId, reservation: await reserve(userId), stream });
      const replies = await h.finalReplies(job.id!);
      const last = replies.at(-1) as { t: string; result: { costUsd: number; usage: { promptTokens: number } } };
      expect(last.t).toBe(stream ? 'end' : 'result');
      expect(last.result.usage.promptTokens).toBe(4100);
      expect(last.result.costUsd).toBeCloseTo(BILLED, 9);
      const [row] = await waitFor(
        async () => {
          const rows = await h.query<{ prompt_tokens: number; cached_tokens: number; cost_usd: string }>(
            'SELECT prompt_tokens, cached_tokens, cost_usd FROM usage_records WHERE request_id = $1',
            [job.data.request.requestId],
          );
          return rows.length > 0 ? rows : undefined;
        },
        { timeoutMs: 10_000, message: 'no usage row' },
      );
      expect([row.prompt_tokens, row.cached_tokens]).toEqual([4100, 1000]);
      expect(Number(row.cost_usd)).toBeCloseTo(BILLED, 9);
      await waitFor(async () => Math.abs((await counters.read(userId, Date.now())).dailySpendUsd - BILLED) < 1e-9, {
        timeoutMs: 5_000,
        message: 'the spend counter does not hold what was billed',
      });
    }, 30_000);
  }
});
