import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIError } from 'openai';
import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * A Text Embeddings Inference server on loopback (`/v1/embeddings`, OpenAI's wire format): more inputs than its
 * `--max-client-batch-size` (32, TEI's default) is its 422 "batch size N > maximum allowed batch size 32". A text
 * `too long` is refused with an OpenAI-style 400 naming its place in the request (`input[i]`).
 */
class TeiStub {
  private server!: Server;
  url = '';
  /** Input counts of the embeddings requests received. */
  sizes: number[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST' && req.url === '/v1/embeddings') {
          const { input } = JSON.parse(Buffer.concat(chunks).toString()) as { input: string[] };
          this.sizes.push(input.length);
          if (input.length > 32) {
            res.statusCode = 422;
            res.end(
              JSON.stringify({
                error: `batch size ${input.length} > maximum allowed batch size 32`,
                error_type: 'Validation',
              }),
            );
            return;
          }
          const refused = input.indexOf('too long');
          if (refused >= 0) {
            res.statusCode = 400;
            res.end(
              JSON.stringify({
                error: { message: 'input is too long', type: 'invalid_request_error', param: `input[${refused}]` },
              }),
            );
            return;
          }
          res.end(
            JSON.stringify({
              object: 'list',
              data: input.map((t, i) => ({ object: 'embedding', index: i, embedding: [Number(t.slice(1)), 1] })),
              model: 'bge',
              usage: { prompt_tokens: input.length * 3, total_tokens: input.length * 3 },
            }),
          );
          return;
        }
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'bge', object: 'model' }] }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** `POST /v1/embeddings` of 100 inputs to a TEI deployment through the whole system, its limit set in the catalog. */
describe("embeddings split by the provider's maxEmbeddingInputs (e2e, a TEI server)", () => {
  const tei = new TeiStub();
  const system = new TestSystem({
    workers: 1,
    catalog: () => `providers:
  - id: tei
    kind: openai
    baseUrl: ${tei.url}/v1
    timeoutMs: 10000
    maxEmbeddingInputs: 32
    models:
      - { name: bge, promptPer1k: 0.001, completionPer1k: 0, contextWindow: 512, capabilities: [embeddings] }
`,
  });
  let client: OpenAI;
  const texts = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);

  beforeAll(async () => {
    await tei.start();
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await tei.stop();
  }, 30_000);

  async function usageRow(requestId: string | null): Promise<{ prompt_tokens: number; status: string }> {
    const rows = await waitFor(
      async () => {
        const found = await system.query<{ prompt_tokens: number; status: string }>(
          'SELECT prompt_tokens, status FROM usage_records WHERE request_id = $1',
          [requestId],
        );
        return found.length > 0 ? found : null;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'usage record' },
    );
    return rows[0];
  }

  it('answers 100 inputs with 100 vectors in input order, the usage of the four requests summed', async () => {
    tei.sizes = [];
    const { data: res, response } = await client.embeddings
      .create({ model: 'bge', input: texts(100), encoding_format: 'float' })
      .withResponse();
    expect(tei.sizes).toEqual([32, 32, 32, 4]);
    expect(res.data).toHaveLength(100);
    res.data.forEach((d, i) => {
      expect(d.index).toBe(i);
      expect(d.embedding).toEqual([i, 1]);
    });
    expect(res.usage).toEqual({ prompt_tokens: 300, total_tokens: 300 });
    expect(await usageRow(response.headers.get('x-request-id'))).toMatchObject({
      status: 'success',
      prompt_tokens: 300,
    });
  });

  it("a later request's refusal is the client's 400 naming the item in its own list, the requests before it billed", async () => {
    tei.sizes = [];
    const input = texts(100);
    input[70] = 'too long';
    const err: unknown = await client.embeddings
      .create({ model: 'bge', input, encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).code).toBe('invalid_request');
    expect((err as APIError).param).toBe('input[70]');
    // Nothing after the refused request, and no second try of the whole list.
    expect(tei.sizes).toEqual([32, 32, 32]);
    const requestId = (err as APIError).headers?.get('x-request-id') ?? null;
    expect(await usageRow(requestId)).toMatchObject({ prompt_tokens: 192 });
  });

  it('the admin API keeps the setting and refuses one out of range, naming it', async () => {
    const admin = (method: string, url: string, body?: unknown) =>
      fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers${url}`, {
        method,
        headers: { authorization: `Bearer ${system.adminKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const list = (await (await admin('GET', '')).json()) as { data: { id: string; maxEmbeddingInputs?: number }[] };
    expect(list.data.find((p) => p.id === 'tei')?.maxEmbeddingInputs).toBe(32);
    const refused = await admin('PATCH', '/tei', { maxEmbeddingInputs: 5000 });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { param: string; message: string } };
    expect(body.error.param).toBe('maxEmbeddingInputs');
    expect(body.error.message).toContain('between 1 and 2048');
    const patched = await admin('PATCH', '/tei', { maxEmbeddingInputs: 16 });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { maxEmbeddingInputs?: number }).maxEmbeddingInputs).toBe(16);
  });
});
