import OpenAI from 'openai';
import { TestSystem } from './harness';

/** A deployment named as operators name them in their own script: its `x-gateway-model` header. */
const MODEL = 'deepseek-r1-满血版';

describe('a model name outside printable ASCII (e2e)', () => {
  const system = new TestSystem({
    env: { RETRY_MAX: '0' },
    catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - { name: "${MODEL}", upstreamName: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });
  let client: OpenAI;

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await system.stop();
  }, 60_000);

  it('is named percent-encoded in the header of a whole answer, which is answered', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: `sim/${MODEL}`, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.choices[0].message.content).toBeTruthy();
    expect(decodeURIComponent(response.headers.get('x-gateway-model') ?? '')).toBe(MODEL);
  }, 30_000);

  it('is named so in the header of a stream, which streams to its end, and the gateway serves on', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: `sim/${MODEL}`, stream: true, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    expect(decodeURIComponent(response.headers.get('x-gateway-model') ?? '')).toBe(MODEL);
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).not.toBe('');
    expect(finish).toBe('stop');
    // The stream's head once threw where nothing caught it: the gateway's process ended, with every request it held.
    const again = await client.chat.completions.create({
      model: `sim/${MODEL}`,
      messages: [{ role: 'user', content: 'again' }],
    });
    expect(again.choices[0].message.content).toBeTruthy();
    expect(system.apps.find((a) => a.name === 'api-gateway')?.child.exitCode).toBeNull();
  }, 30_000);
});
