import { uniqueId, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * The response cache key holds every field that changes an answer, and an answer served again (a hit, a coalesced
 * follower's) is the request's own: its id, time and usage row match its `x-request-id`. Cache-Control directives
 * behave as documented (`no-cache`: a call of its own, stored; `no-store`: neither looked up nor stored).
 */
describe('response cache: key fields, served ids, bypass headers (e2e)', () => {
  const system = new TestSystem({
    topology: 'single',
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    // sim-gpt takes tools, images and JSON mode: requests asking for them are answered, not refused.
    catalog: (s) =>
      s
        .catalogYaml()
        .replace('capabilities: [chat, streaming] }', 'capabilities: [chat, streaming, tools, vision, json] }'),
  });

  beforeAll(async () => {
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
  }, 60_000);

  beforeEach(() => {
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 0 });
  });

  function chat(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ model: 'sim-gpt', ...body }),
    });
  }

  const calc = {
    type: 'function',
    function: { name: 'calc', parameters: { type: 'object', properties: { x: { type: 'number' } } } },
  };
  const other = { type: 'function', function: { name: 'other', parameters: { type: 'object', properties: {} } } };

  it.each<[string, Record<string, unknown>]>([
    ['temperature', { temperature: 0.9 }],
    ['seed', { seed: 7 }],
    ['stop', { stop: ['zzz'] }],
    ['max_tokens', { max_tokens: 50 }],
    ['top_p', { top_p: 0.5 }],
    ['tools', { tools: [calc] }],
    ['tools differ', { tools: [calc, other] }],
    ['tool_choice', { tools: [calc], tool_choice: 'none' }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['reasoning_effort', { reasoning_effort: 'low' }],
    ['system prompt', { system: 'You are terse.' }],
    ['image content', { image: true }],
  ])('a request differing in %s is not answered by the base entry', async (_name, change) => {
    const prompt = `key ${uniqueId()}`;
    const base = { messages: [{ role: 'user', content: prompt }] };
    const first = await chat(base);
    expect(first.status).toBe(200);
    expect((await chat(base)).headers.get('x-gateway-cache')).toBe('hit');
    const { system: sys, image, ...fields } = change;
    const messages = [
      ...(typeof sys === 'string' ? [{ role: 'system', content: sys }] : []),
      image === true
        ? {
            role: 'user',
            content: [
              { type: 'text', text: prompt },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            ],
          }
        : { role: 'user', content: prompt },
    ];
    const changed = await chat({ ...fields, messages });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('x-gateway-cache')).toBe('miss');
  });

  it('a hit and a coalesced follower carry their own id, time and usage row, matching x-request-id', async () => {
    system.sim.configure({ latencyMs: 800 });
    const prompt = `ids ${uniqueId()}`;
    const base = { messages: [{ role: 'user', content: prompt }] };
    const answers = await Promise.all([chat(base), chat(base), chat(base)]);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    system.sim.configure({ latencyMs: 0 });
    const hit = await chat(base);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const all = [...answers, hit];
    expect(answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true')).toHaveLength(2);
    const bodies = (await Promise.all(all.map((r) => r.json()))) as { id: string; created: number }[];
    const ids = all.map((r) => r.headers.get('x-request-id'));
    // The leader's is the provider's completion id; every answer served again is named by its own request id.
    for (const [i, body] of bodies.entries()) {
      if (all[i] === hit || all[i].headers.get('x-gateway-coalesced') === 'true') {
        expect(body.id).toBe(`chatcmpl-${ids[i]}`);
      }
    }
    expect(new Set(bodies.map((b) => b.id)).size).toBe(4);
    expect(bodies[3].created).toBeGreaterThan(bodies[0].created);
    const rows = await waitFor(async () => {
      const found = await system.query<{ request_id: string }>(
        'SELECT request_id FROM usage_records WHERE request_id = ANY($1)',
        [ids],
      );
      return found.length === 4 ? found : null;
    });
    expect(new Set(rows.map((r) => r.request_id))).toEqual(new Set(ids));
  });

  it('Cache-Control: no-store is neither looked up nor stored; no-cache calls the provider and stores', async () => {
    const prompt = `bypass ${uniqueId()}`;
    const base = { messages: [{ role: 'user', content: prompt }] };
    const calls = system.sim.stats().total;
    expect((await chat(base, { 'cache-control': 'no-store' })).headers.get('x-gateway-cache')).toBe('bypass');
    expect((await chat(base)).headers.get('x-gateway-cache')).toBe('miss');
    expect((await chat(base, { 'cache-control': 'no-store' })).headers.get('x-gateway-cache')).toBe('bypass');
    const fresh = await chat(base, { 'cache-control': 'no-cache' });
    expect(fresh.headers.get('x-gateway-cache')).toBe('bypass');
    expect(system.sim.stats().total).toBe(calls + 4);
    expect((await chat(base)).headers.get('x-gateway-cache')).toBe('hit');
  });
});
