import { claudeCalls, MODEL_ROW, type Body } from './claude-calls';
import { TestSystem } from './harness';

/**
 * Claude Opus 4.1, the 4.5 generation and later refuse `temperature` with `top_p` (Anthropic's 400 "`temperature` and
 * `top_p` cannot both be specified for this model"), which the simulator answers as Anthropic does, on its Anthropic
 * wire and on its OpenAI one standing in for LiteLLM in front of Claude. Many OpenAI clients send `top_p: 1` beside
 * their temperature (LangChain's default): such a request must be served, and both meaningful must go to a deployment
 * that takes them, or be our 400 naming `top_p` before any call.
 */
describe('temperature with top_p to Claude models that take only one of them (e2e)', () => {
  const system = new TestSystem({
    topology: 'single',
    catalog: (s) => `providers:
  - id: an45
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-a45
    timeoutMs: 10000
    models:
      - { name: sonnet, upstreamName: claude-sonnet-4-5-20250929, ${MODEL_ROW} }
      - { name: mixed, upstreamName: claude-sonnet-4-5-20250929, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: an40
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-a40
    timeoutMs: 10000
    models:
      - { name: sonnet-4, upstreamName: claude-sonnet-4-20250514, ${MODEL_ROW} }
  - id: viagw
    kind: anthropic
    baseUrl: http://127.0.0.1:9
    apiKey: sk-unused
    routing: gateway
    gateway: litellm
    timeoutMs: 10000
    models:
      - { name: sonnet-gw, upstreamName: anthropic.claude-sonnet-4-5-20250929-v1:0, ${MODEL_ROW} }
  - id: oa
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-oa
    timeoutMs: 10000
    models:
      - { name: mixed, ${MODEL_ROW} }
gateways:
  - id: litellm
    baseUrl: ${s.sim.url}/v1
    timeoutMs: 10000
`,
  });

  const { chat, messages, sentSince } = claudeCalls(system, 16);

  it.each([
    ['sonnet', 'Claude direct'],
    ['sonnet-gw', 'Claude through LiteLLM'],
  ])(
    'serves temperature with top_p 1 (%s, %s), leaving the top_p of 1 out',
    async (model) => {
      const before = system.sim.lastRequests(200);
      const res = await chat({ model, temperature: 0.2, top_p: 1 });
      expect([res.status, await res.text()]).toEqual([200, expect.any(String)]);
      const sent = sentSince(before);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ temperature: 0.2 });
      expect(sent[0]).not.toHaveProperty('top_p');
    },
    30_000,
  );

  it('serves temperature 1 with a top_p below 1, leaving the temperature of 1 out', async () => {
    const before = system.sim.lastRequests(200);
    const res = await chat({ model: 'sonnet', temperature: 1, top_p: 0.9, stream: true });
    expect(res.status).toBe(200);
    await res.text();
    const sent = sentSince(before);
    expect(sent[0]).toMatchObject({ top_p: 0.9 });
    expect(sent[0]).not.toHaveProperty('temperature');
  }, 30_000);

  it('answers both meaningful with our 400 naming top_p and the rule, calling no provider', async () => {
    for (const model of ['sonnet', 'sonnet-gw']) {
      const before = system.sim.lastRequests(200);
      const res = await chat({ model, temperature: 0.2, top_p: 0.9 });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { message: string; type: string; code: string; param: string } };
      expect(body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'unsupported_parameter',
        param: 'top_p',
      });
      expect(body.error.message).toContain("'temperature' and 'top_p' cannot both be set");
      expect(sentSince(before)).toEqual([]);
    }
  }, 30_000);

  it('routes both meaningful to a deployment of the model that takes them', async () => {
    // `an45/mixed` is the cheapest and pinned first: without the rule it would be tried and answer 400.
    const res = await chat(
      { model: 'an45/mixed', temperature: 0.2, top_p: 0.9 },
      { 'x-gateway-allow-fallback': 'true' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-provider')).toBe('oa');
  }, 30_000);

  it('sends both, as they came, to a Claude model that takes both', async () => {
    const before = system.sim.lastRequests(200);
    const res = await chat({ model: 'sonnet-4', temperature: 0.2, top_p: 0.9 });
    expect(res.status).toBe(200);
    expect(sentSince(before)[0]).toMatchObject({ temperature: 0.2, top_p: 0.9 });
  }, 30_000);

  it('/v1/messages: top_p 1 is left out; both meaningful are an Anthropic-shaped 400 naming top_p', async () => {
    const before = system.sim.lastRequests(200);
    const ok = await messages({ model: 'sonnet', temperature: 0.2, top_p: 1 });
    expect(ok.status).toBe(200);
    expect(sentSince(before)[0]).not.toHaveProperty('top_p');
    const refused = await messages({ model: 'sonnet', temperature: 0.2, top_p: 0.9 });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', param: 'top_p' },
    });
  }, 30_000);

  it('native generate: both meaningful are a 400 naming options.topP; topP 1 is served', async () => {
    const generate = (options: Body): Promise<Response> =>
      fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ prompt: 'Hi', model: 'sonnet', options }),
      });
    const refused = await generate({ temperature: 0.2, topP: 0.9 });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'unsupported_parameter', param: 'options.topP' } });
    expect((await generate({ temperature: 0.2, topP: 1 })).status).toBe(200);
  }, 30_000);
});
