import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { APIError } from 'openai';
import { countTextTokens } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/** The shipped example plugin, as the worker loads it: what its embed() answers is what the gateway must relay. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS example module, loaded as the worker does
const echoPlugin = require('../../examples/plugins/echo-provider.js') as {
  createAdapter(context: unknown): {
    embed(
      req: { input: string[]; dimensions?: number },
      signal: AbortSignal,
    ): Promise<{ embeddings: number[][]; usage: { promptTokens: number } }>;
  };
};

/**
 * A Gemini API on loopback whose `batchEmbedContents` can be made to fail on its n-th call (an INTERNAL 500): the
 * gateway splits a long input into calls of 100 texts, and the ones before the failing call were charged for.
 */
class GeminiStub {
  private server!: Server;
  url = '';
  /** batchEmbedContents calls since the last `failOn`. */
  calls = 0;
  private failing = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST' && req.url?.includes(':batchEmbedContents') === true) {
          this.calls++;
          if (this.calls === this.failing) {
            res.statusCode = 500;
            res.end(
              JSON.stringify({ error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } }),
            );
            return;
          }
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { requests: unknown[] };
          res.end(JSON.stringify({ embeddings: body.requests.map((_, i) => ({ values: [1, i + 1, 0.5] })) }));
          return;
        }
        // The health monitor's model list.
        res.end(JSON.stringify({ models: [{ name: 'models/gemini-embedding-001' }] }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next request's `n`-th batchEmbedContents call fails (0: none does). */
  failOn(n: number): void {
    this.calls = 0;
    this.failing = n;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A plugin that embeds each distinct text once (to save its upstream's charge) and answers that shorter list: the
 * echo example's vectors, one fewer for an input that repeats a text.
 */
const DEDUPING_PLUGIN = path.join(mkdtempSync(path.join(os.tmpdir(), 'aigw-plugin-')), 'deduping-embed.js');
writeFileSync(
  DEDUPING_PLUGIN,
  `const echo = require(${JSON.stringify(path.resolve(__dirname, '../../examples/plugins/echo-provider.js'))});
module.exports = {
  createAdapter(context) {
    const adapter = echo.createAdapter(context);
    return { ...adapter, embed: (req, signal) => adapter.embed({ ...req, input: [...new Set(req.input)] }, signal) };
  },
};
`,
);

/**
 * `POST /v1/embeddings` through the whole system, to a provider plugin implementing `embed` (the shipped echo example),
 * and to a Gemini deployment one of whose batches fails after an earlier one succeeded.
 */
describe('embeddings: plugins, and a Gemini batch failing after others succeeded (e2e)', () => {
  const gemini = new GeminiStub();
  const system = new TestSystem({
    workers: 1,
    env: { ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: () => `providers:
  - id: echo
    kind: plugin
    plugin: ./examples/plugins/echo-provider.js
    baseUrl: http://127.0.0.1
    timeoutMs: 10000
    models:
      - { name: echo-1, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: echo-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: dedup
    kind: plugin
    plugin: ${DEDUPING_PLUGIN}
    baseUrl: http://127.0.0.1
    timeoutMs: 10000
    models:
      - { name: dedup-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: gem
    kind: gemini
    baseUrl: ${gemini.url}/v1beta
    apiKey: AIzaSy-stub-secret
    timeoutMs: 10000
    models:
      - { name: gem-embed, upstreamName: gemini-embedding-001, promptPer1k: 0.00015, completionPer1k: 0, contextWindow: 2048, capabilities: [embeddings] }
`,
  });
  let client: OpenAI;

  beforeAll(async () => {
    await gemini.start();
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await gemini.stop();
  }, 30_000);

  async function usageRow(
    requestId: string | null,
  ): Promise<{ prompt_tokens: number; cost_usd: string; status: string; provider: string; error_code: string | null }> {
    const rows = await waitFor(
      async () => {
        const found = await system.query<{
          prompt_tokens: number;
          cost_usd: string;
          status: string;
          provider: string;
          error_code: string | null;
        }>('SELECT prompt_tokens, cost_usd, status, provider, error_code FROM usage_records WHERE request_id = $1', [
          requestId,
        ]);
        return found.length > 0 ? found : null;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'usage record' },
    );
    return rows[0];
  }

  it('a plugin implementing embed() serves /v1/embeddings, its vectors relayed and its usage billed', async () => {
    const input = ['hello plugin', 'a second, longer text to embed'];
    const { data: res, response } = await client.embeddings
      .create({ model: 'echo-embed', input, dimensions: 4, encoding_format: 'float' })
      .withResponse();
    const expected = await echoPlugin.createAdapter({}).embed({ input, dimensions: 4 }, new AbortController().signal);
    expect(res.model).toBe('echo/echo-embed');
    expect(res.data.map((d) => d.embedding)).toEqual(expected.embeddings);
    expect(res.usage).toEqual({
      prompt_tokens: expected.usage.promptTokens,
      total_tokens: expected.usage.promptTokens,
    });
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'success', provider: 'echo', prompt_tokens: expected.usage.promptTokens });
    expect(Number(row.cost_usd)).toBeCloseTo((expected.usage.promptTokens / 1000) * 0.0001, 9);
  });

  it('an answer with fewer vectors than inputs is a provider error, never relayed with the vectors out of place', async () => {
    // Relayed, data[1] (index 1, "b") held the vector of "a" (the third input), and data[2] was missing.
    const input = ['a', 'b', 'a'];
    const distinct = await client.embeddings.create({
      model: 'dedup-embed',
      input: ['a', 'b'],
      encoding_format: 'float',
    });
    expect(distinct.data).toHaveLength(2);
    const err: unknown = await client.embeddings
      .create({ model: 'dedup-embed', input, encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(502);
    // Retried and failed over as any malformed answer; none other left.
    expect((err as APIError).code).toBe('all_providers_failed');
    const attempts = ((err as APIError).error as { attempts?: { message?: string }[] }).attempts ?? [];
    expect(attempts.at(-1)?.message).toContain('the deployment answered 2 embeddings for 3 inputs');
  });

  it('a Gemini batch failing after one succeeded: an error, no second try, and the embedded batch billed', async () => {
    const input = Array.from({ length: 150 }, (_, i) => `passage number ${i}`);
    gemini.failOn(2);
    const err: unknown = await client.embeddings
      .create({ model: 'gem-embed', input, encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).code).toBe('provider_error');
    expect((err as APIError).message).toMatch(/failed after embedding part of the input/);
    // Neither retried nor sent again: each try would pay for the first 100 texts once more.
    expect(gemini.calls).toBe(2);
    // Google charged for the first batch: recorded with the failure, as a cut stream's tokens are.
    const embedded = input.slice(0, 100).reduce((sum, t) => sum + countTextTokens(t), 0);
    const row = await usageRow((err as APIError).headers?.get('x-request-id') ?? null);
    expect(row).toMatchObject({
      status: 'error',
      provider: 'gem',
      prompt_tokens: embedded,
      error_code: 'provider_error',
    });
    expect(Number(row.cost_usd)).toBeCloseTo((embedded / 1000) * 0.00015, 9);
  });

  it('a first batch that fails cost nothing: retried as any failed call', async () => {
    gemini.failOn(1);
    const ok = await client.embeddings.create({ model: 'gem-embed', input: ['one', 'two'], encoding_format: 'float' });
    // The failed first call was retried (it cost nothing): the retry answered.
    expect(gemini.calls).toBe(2);
    expect(ok.data).toHaveLength(2);
  });
});
