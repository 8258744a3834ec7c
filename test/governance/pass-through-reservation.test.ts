import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/**
 * An OpenAI-compatible server (vLLM's chat API) that bills the `documents` of a request, a field the gateway does not
 * model and passes through, as prompt tokens: a word a token, as cl100k counts plain English words.
 */
function documentsBillingServer(): Server {
  const words = (text: string): number => text.split(/\s+/).filter((w) => w !== '').length;
  return createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        messages: { content: string }[];
        documents?: { text: string }[];
      };
      const prompt =
        body.messages.reduce((n, m) => n + words(m.content), 0) +
        (body.documents ?? []).reduce((n, d) => n + words(d.text), 0);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-docs',
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: 'rag-model',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: prompt, completion_tokens: 1, total_tokens: prompt + 1 },
          }),
        );
      }, 200);
    });
  });
}

/**
 * Fields the gateway does not model reach OpenAI-compatible providers as sent, and some of them carry what the
 * provider bills (vLLM's `documents`, OpenAI's `prediction`): admission must reserve for them, or concurrent requests
 * take a user far past a budget.
 */
describe('reservations of pass-through fields', () => {
  const provider = documentsBillingServer();
  let url = '';
  const sys = new TestSystem({
    catalog: () => `providers:
  - id: rag
    kind: openai
    baseUrl: ${url}/v1
    apiKey: sk-rag-secret
    timeoutMs: 10000
    models:
      - { name: rag-model, promptPer1k: 0.01, completionPer1k: 0.01, contextWindow: 32768, capabilities: [chat] }
`,
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    await sys.start();
  }, 90_000);

  afterAll(async () => {
    await sys.stop();
    await new Promise((resolve) => provider.close(resolve));
  }, 60_000);

  it('reserves the tokens of a passed-through field, so that concurrent requests stay within the budget', async () => {
    // Each request's documents bill 1,000 prompt tokens ($0.01): five fit in the $0.05 budget, twenty do not.
    const limit = 0.05;
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', ['rag-user']);
    const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(key).digest('hex'),
      key.slice(0, 16),
    ]);
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', $2)`, [
      user.id,
      limit,
    ]);
    const documents = [{ title: 'manual', text: Array.from({ length: 1000 }, () => 'word').join(' ') }];
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'rag/rag-model',
            max_tokens: 10,
            messages: [{ role: 'user', content: `question ${i}` }],
            documents,
          }),
        }),
      ),
    );
    const ok = responses.filter((r) => r.status === 200).length;
    expect(ok + responses.filter((r) => r.status === 429).length).toBe(20);
    expect(ok).toBeGreaterThan(0);
    const spent = await waitFor(
      async () => {
        const rows = await sys.query<{ n: string; spent: string }>(
          'SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1',
          [user.id],
        );
        return Number(rows[0].n) === ok ? Number(rows[0].spent) : null;
      },
      { timeoutMs: 20_000, message: 'usage rows did not arrive' },
    );
    // The provider billed what its documents held: the same cost, whatever the estimate.
    expect(spent).toBeGreaterThanOrEqual(ok * 0.01);
    expect(spent).toBeLessThanOrEqual(limit);
  }, 60_000);
});
