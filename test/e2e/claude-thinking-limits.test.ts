import { claudeCalls, MODEL_ROW } from './claude-calls';
import { TestSystem } from './harness';

type ErrorBody = { error: { message: string; type: string; code: string; param: string } };

/**
 * With extended thinking on, Claude refuses a temperature other than 1, top_k, a top_p below 0.95 and a forced tool.
 * Claude's own API (the Anthropic adapter) refuses them before sending; Claude behind an OpenAI-compatible gateway
 * (LiteLLM, which passes `thinking` on and turns `reasoning_effort` into it) is held to the same check, so the client
 * gets the same 400 whichever route served it, and routing moves on to another deployment instead of sending Claude
 * a request it refuses. The simulator standing in for LiteLLM answers such a request, so only our check stops it.
 */
describe("extended thinking's limits, Claude direct and through LiteLLM alike (e2e)", () => {
  const system = new TestSystem({
    topology: 'single',
    catalog: (s) => `providers:
  - id: an
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-an
    timeoutMs: 10000
    models:
      - { name: sonnet, upstreamName: claude-sonnet-4-20250514, ${MODEL_ROW} }
  - id: viagw
    kind: anthropic
    baseUrl: http://127.0.0.1:9
    apiKey: sk-unused
    routing: gateway
    gateway: litellm
    timeoutMs: 10000
    models:
      - { name: sonnet-gw, upstreamName: claude-sonnet-4-20250514, ${MODEL_ROW} }
      - { name: mixed, upstreamName: claude-sonnet-4-20250514, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192, capabilities: [chat, streaming] }
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

  const { chat, messages, sentSince } = claudeCalls(system, 4096);

  it.each([
    ['temperature', { reasoning_effort: 'low', temperature: 0.5 }],
    ['top_p', { reasoning_effort: 'high', top_p: 0.5 }],
    ['top_k', { reasoning_effort: 'medium', top_k: 5 }],
  ])(
    'answers %s with thinking on with the same 400 on either route, calling no provider',
    async (param, fields) => {
      const answers: ErrorBody['error'][] = [];
      for (const model of ['sonnet', 'sonnet-gw']) {
        const before = system.sim.lastRequests(200);
        const res = await chat({ model, ...fields });
        expect([model, res.status]).toEqual([model, 400]);
        answers.push(((await res.json()) as ErrorBody).error);
        expect([model, sentSince(before)]).toEqual([model, []]);
      }
      expect(answers[0]).toMatchObject({ type: 'invalid_request_error', param });
      expect(answers[0].message).toContain('with thinking on');
      // The same message, type, code and param (the attempts say which deployment and route refused).
      const shown = (e: ErrorBody['error']) => ({ message: e.message, type: e.type, code: e.code, param: e.param });
      expect(shown(answers[1])).toEqual(shown(answers[0]));
    },
    30_000,
  );

  it("/v1/messages' thinking with a temperature: the same Anthropic-shaped 400 on either route", async () => {
    const answers: unknown[] = [];
    for (const model of ['sonnet', 'sonnet-gw']) {
      const before = system.sim.lastRequests(200);
      const res = await messages({ model, thinking: { type: 'enabled', budget_tokens: 2048 }, temperature: 0.5 });
      expect([model, res.status]).toEqual([model, 400]);
      answers.push(await res.json());
      expect([model, sentSince(before)]).toEqual([model, []]);
    }
    expect(answers[0]).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', param: 'temperature' } });
    expect(answers[1]).toEqual(answers[0]);
  }, 30_000);

  it('moves on from Claude behind the gateway to a deployment that serves the request', async () => {
    // `viagw/mixed` is the cheapest and pinned first: without the check it would be sent the request.
    const before = system.sim.lastRequests(200);
    const res = await chat(
      { model: 'viagw/mixed', reasoning_effort: 'low', temperature: 0.5 },
      { 'x-gateway-allow-fallback': 'true' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-provider')).toBe('oa');
    expect(sentSince(before)).toHaveLength(1);
  }, 30_000);

  it('sends Claude behind the gateway what it takes with thinking on, and sampling without thinking', async () => {
    const before = system.sim.lastRequests(200);
    const thinking = await messages({
      model: 'sonnet-gw',
      thinking: { type: 'enabled', budget_tokens: 2048 },
      temperature: 1,
      top_p: 0.95,
    });
    expect(thinking.status).toBe(200);
    const plain = await chat({ model: 'sonnet-gw', temperature: 0.5, top_k: 5 });
    expect(plain.status).toBe(200);
    const sent = sentSince(before);
    expect(sent[0]).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 }, temperature: 1, top_p: 0.95 });
    expect(sent[1]).toMatchObject({ temperature: 0.5, top_k: 5 });
  }, 30_000);
});
