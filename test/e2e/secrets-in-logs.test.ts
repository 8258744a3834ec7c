import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

const PROVIDER_KEY = 'sk-e2e-provider-key-77aa';
const SECRETS_KEY = '5ec2e75e' + 'c0ffee42'.repeat(7);

/**
 * Secrets never reach a log line or a client, driven through the real processes at LOG_LEVEL=verbose (every line): provider calls
 * that fail with answers quoting the key they were sent (plain and URL-encoded), requests carrying the gateway key in
 * Authorization, x-api-key and api-key, a connection test, SECRETS_KEY in the environment. (A key in a baseUrl's query
 * string never gets this far: the catalog refuses it, `credentialParamOf`.)
 */
describe('secrets in logs (e2e)', () => {
  let upstream: Server;
  let origin = '';
  const system = new TestSystem({
    workers: 1,
    env: { LOG_LEVEL: 'verbose', SECRETS_KEY },
    catalog: () => `providers:
  - id: keyed
    kind: openai
    baseUrl: ${origin}/v1
    apiKey: ${PROVIDER_KEY}
    timeoutMs: 5000
    models:
      - { name: keyed-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    // A server that quotes the bearer key it was sent: in a JSON 401 (model list), URL-encoded in a plain-text 403.
    upstream = createServer((req, res) => {
      const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (req.url?.includes('/models') === true) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `key ${key} for ${req.url} is not valid` } }));
        return;
      }
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`forbidden: ${req.method} ${req.url}?token=${encodeURIComponent(key)}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await new Promise((resolve) => upstream.close(resolve));
  }, 30_000);

  it('keeps the provider key, the gateway key and SECRETS_KEY out of answers and every log line', async () => {
    const body = JSON.stringify({ model: 'keyed-gpt', messages: [{ role: 'user', content: 'hi' }] });
    const answers: string[] = [];
    for (const headers of [
      system.headers(),
      { 'content-type': 'application/json', 'x-api-key': system.adminKey },
      { 'content-type': 'application/json', 'api-key': system.adminKey },
    ]) {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers, body });
      answers.push(`${res.status} ${await res.text()}`);
    }
    const streamed = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'keyed-gpt', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    answers.push(`${streamed.status} ${await streamed.text()}`);
    // The connection test goes through the health-monitor, and lists the provider's models.
    const test = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/keyed/test`, {
      method: 'POST',
      headers: system.headers(),
    });
    answers.push(`${test.status} ${await test.text()}`);
    // The provider was called, and its answer (quoting the key) was seen: the failures name it.
    expect(answers[0]).toMatch(/^\d{3} /);
    expect(answers[0]).toContain('forbidden: POST /v1/chat/completions?token=[redacted]');
    const logs = (): string => system.apps.map((a) => a.output.join('')).join('\n');
    await waitFor(() => (logs().includes('failed') ? true : null));
    for (const text of [...answers, logs()]) {
      for (const secret of [PROVIDER_KEY, encodeURIComponent(PROVIDER_KEY), system.adminKey, SECRETS_KEY]) {
        expect(text).not.toContain(secret);
      }
    }
  }, 60_000);
});
