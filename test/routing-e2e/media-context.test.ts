import { PDF_BYTES_PER_PAGE, PDF_TOKENS_PER_PAGE } from '@aigw/core';
import { TestSystem } from '../e2e/harness';
import { uniqueText } from './support';

/*
 * A PDF's tokens in the routing estimate. They counted as nothing there (only admission reserved them): a 32-page PDF
 * (~96,000 tokens by the estimate) went by cost to the cheap deployment with a 32k window, where a real provider
 * refuses it, instead of to the one whose window holds it; and a streamed /v1/messages answer opened with the few
 * tokens of its text as `input_tokens`. Both deployments are the same simulator, which answers whatever it is sent.
 */
describe('routing a request with a PDF by its estimated size (e2e)', () => {
  const model = (window: number, price: number) =>
    `{ name: sim-gpt, promptPer1k: ${price}, completionPer1k: ${price}, contextWindow: ${window}, capabilities: [chat, streaming, vision] }`;
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0', LOG_LEVEL: 'warn' },
    catalog: (s) => `providers:
  - id: narrow
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-narrow-secret
    models:
      - ${model(32_000, 0.0001)}
  - id: wide
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-wide-secret
    models:
      - ${model(200_000, 0.003)}
`,
  });

  beforeAll(() => system.start(), 90_000);
  afterAll(() => system.stop(), 30_000);

  const pages = 32;
  const data = Buffer.alloc(pages * PDF_BYTES_PER_PAGE, 0x55).toString('base64');

  it('sends it to the deployment whose window holds it, though another is cheaper', async () => {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-gpt',
        max_tokens: 16,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: uniqueText('Summarize') },
              { type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${data}` } },
            ],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-provider')).toBe('wide');
    // A text request still goes to the cheaper one.
    const text = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: uniqueText('hello') }] }),
    });
    expect(text.status).toBe(200);
    expect(text.headers.get('x-gateway-provider')).toBe('narrow');
  });

  it("opens a stream with the PDF in its prompt tokens (message_start's input_tokens)", async () => {
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-gpt',
        max_tokens: 16,
        stream: true,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: uniqueText('Summarize') },
              { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data } },
            ],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const raw = await res.text();
    const start = raw.split('\n').find((l) => l.startsWith('data: ') && l.includes('"message_start"'));
    const event = JSON.parse(start?.slice('data: '.length) ?? '{}') as {
      message?: { usage?: { input_tokens?: number } };
    };
    expect(event.message?.usage?.input_tokens).toBeGreaterThanOrEqual(pages * PDF_TOKENS_PER_PAGE);
  });
});
