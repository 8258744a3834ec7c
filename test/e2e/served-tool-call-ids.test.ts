import { parseSse, uniqueId, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * An answer served again (a response cache hit, whole or replayed as a stream, and a coalesced follower's copy of
 * its leader's answer) is another answer: its tool call ids are fresh, in the provider's format (`call_…` from the
 * OpenAI family, `toolu_…` from Anthropic's), and so is its completion id. Before, a hit and every follower carried
 * the provider's ids verbatim, so two conversations held the same tool call id, which clients and providers key
 * state by. One answer keeps one id per call wherever it appears.
 */
describe('tool call ids of answers served again (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools] }
  - id: sim0-anthropic
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-secret-a
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming, tools] }
`,
  });

  beforeAll(() => system.start(), 90_000);
  afterAll(() => system.stop(), 30_000);

  beforeEach(() => {
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 0 });
  });

  const weather = {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  interface Answer {
    id: string;
    toolIds: string[];
    cache: string | null;
    coalesced: boolean;
  }

  async function chat(prompt: string, stream: boolean): Promise<Answer> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-gpt',
        messages: [{ role: 'user', content: prompt }],
        tools: [weather],
        stream,
      }),
    });
    expect(res.status).toBe(200);
    const head = {
      cache: res.headers.get('x-gateway-cache'),
      coalesced: res.headers.get('x-gateway-coalesced') === 'true',
    };
    if (!stream) {
      const body = (await res.json()) as { id: string; choices: { message: { tool_calls?: { id: string }[] } }[] };
      return { id: body.id, toolIds: (body.choices[0].message.tool_calls ?? []).map((c) => c.id), ...head };
    }
    type Chunk = { id: string; choices: { delta: { tool_calls?: { id?: string }[] } }[] };
    const chunks = parseSse(await res.text())
      .filter((e) => e.data.startsWith('{'))
      .map((e) => JSON.parse(e.data) as Chunk);
    const ids = [...new Set(chunks.map((c) => c.id))];
    expect(ids).toHaveLength(1);
    const toolIds = chunks.flatMap((c) => (c.choices[0]?.delta.tool_calls ?? []).flatMap((t) => t.id ?? []));
    return { id: ids[0], toolIds, ...head };
  }

  async function messages(prompt: string, stream: boolean): Promise<Answer> {
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-claude',
        max_tokens: 64,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ name: 'get_weather', input_schema: weather.function.parameters }],
        stream,
      }),
    });
    expect(res.status).toBe(200);
    const head = {
      cache: res.headers.get('x-gateway-cache'),
      coalesced: res.headers.get('x-gateway-coalesced') === 'true',
    };
    type Block = { type: string; id?: string };
    if (!stream) {
      const body = (await res.json()) as { id: string; content: Block[] };
      return {
        id: body.id,
        toolIds: body.content.flatMap((b) => (b.type === 'tool_use' ? [b.id ?? ''] : [])),
        ...head,
      };
    }
    const events = parseSse(await res.text()).map(
      (e) => JSON.parse(e.data) as { type: string; message?: { id: string }; content_block?: Block },
    );
    const start = events.find((e) => e.type === 'message_start');
    const toolIds = events.flatMap((e) => (e.content_block?.type === 'tool_use' ? [e.content_block.id ?? ''] : []));
    return { id: start?.message?.id ?? '', toolIds, ...head };
  }

  /** `fresh` is another id of the same shape as the provider's `original`: its prefix, length and alphabet. */
  function expectSameShape(fresh: string, original: string, prefix: string): void {
    expect(original.startsWith(prefix)).toBe(true);
    expect(fresh).not.toBe(original);
    expect(fresh.startsWith(prefix)).toBe(true);
    expect(fresh).toHaveLength(original.length);
    expect(fresh).toMatch(/^[A-Za-z0-9_]+$/);
  }

  it('a cache hit of an OpenAI-family answer, whole and streamed, carries fresh call_ ids and a fresh id', async () => {
    const prompt = `weather in Oslo ${uniqueId()}`;
    const first = await chat(prompt, false);
    expect(first.cache).toBe('miss');
    expect(first.toolIds).toHaveLength(1);
    const hit = await chat(prompt, false);
    const streamed = await chat(prompt, true);
    for (const served of [hit, streamed]) {
      expect(served.cache).toBe('hit');
      expect(served.toolIds).toHaveLength(1);
      expectSameShape(served.toolIds[0], first.toolIds[0], 'call_');
    }
    expect(new Set([first, hit, streamed].map((a) => a.toolIds[0])).size).toBe(3);
    expect(new Set([first, hit, streamed].map((a) => a.id)).size).toBe(3);
  });

  it('a cache hit of an Anthropic answer on /v1/messages, whole and streamed, carries fresh toolu_ ids', async () => {
    const prompt = `weather in Rome ${uniqueId()}`;
    const first = await messages(prompt, false);
    expect(first.cache).toBe('miss');
    expect(first.toolIds).toHaveLength(1);
    const hit = await messages(prompt, false);
    const streamed = await messages(prompt, true);
    for (const served of [hit, streamed]) {
      expect(served.cache).toBe('hit');
      expect(served.toolIds).toHaveLength(1);
      expectSameShape(served.toolIds[0], first.toolIds[0], 'toolu_');
    }
    expect(new Set([first, hit, streamed].map((a) => a.toolIds[0])).size).toBe(3);
    expect(new Set([first, hit, streamed].map((a) => a.id)).size).toBe(3);
  });

  /** Four identical requests at once: one provider call, a leader and three followers. */
  async function together<T extends Answer>(ask: () => Promise<T>): Promise<T[]> {
    system.sim.configure({ latencyMs: 1_000, chunkDelayMs: 50 });
    const before = system.sim.stats().total;
    const answers = await Promise.all([0, 1, 2, 3].map(() => ask()));
    await waitFor(() => system.sim.stats().inFlight === 0, { timeoutMs: 5_000 });
    expect(system.sim.stats().total).toBe(before + 1);
    expect(answers.filter((a) => a.coalesced)).toHaveLength(3);
    return answers;
  }

  function expectOwnIds(answers: Answer[], prefix: string): void {
    const leader = answers.find((a) => !a.coalesced);
    for (const a of answers) {
      // One call, one id in the whole answer (a stream names it once, in the call's first fragment).
      expect(a.toolIds).toHaveLength(1);
      if (a !== leader && leader !== undefined) {
        expectSameShape(a.toolIds[0], leader.toolIds[0], prefix);
      }
    }
    expect(new Set(answers.map((a) => a.toolIds[0])).size).toBe(answers.length);
    expect(new Set(answers.map((a) => a.id)).size).toBe(answers.length);
  }

  it('coalesced followers of a whole answer each get fresh call_ ids', async () => {
    const prompt = `weather in Lima ${uniqueId()}`;
    expectOwnIds(await together(() => chat(prompt, false)), 'call_');
  });

  it('coalesced followers of a stream each get fresh call_ ids in their fragments', async () => {
    const prompt = `weather in Quito ${uniqueId()}`;
    expectOwnIds(await together(() => chat(prompt, true)), 'call_');
  });

  it('coalesced followers on /v1/messages, whole and streamed, each get fresh toolu_ ids', async () => {
    const whole = `weather in Bern ${uniqueId()}`;
    expectOwnIds(await together(() => messages(whole, false)), 'toolu_');
    const streamed = `weather in Riga ${uniqueId()}`;
    expectOwnIds(await together(() => messages(streamed, true)), 'toolu_');
  });
});
