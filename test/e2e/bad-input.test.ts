import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

interface Envelope {
  error: { message: string; type: string; code: string; param: string | null };
}

/** Bad input gets one clear error envelope with the right status, through the real stack. */
describe('bad input (e2e)', () => {
  const system = new TestSystem({ workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  async function post(body: string, headers = system.headers()): Promise<{ status: number; body: Envelope }> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as Envelope };
  }

  function expectEnvelope(e: Envelope): void {
    expect(Object.keys(e.error).sort()).toEqual(expect.arrayContaining(['code', 'message', 'param', 'type']));
    expect(typeof e.error.message).toBe('string');
  }

  it('malformed JSON -> 400 invalid_json', async () => {
    const r = await post('{"model": "sim-gpt", "messages": [');
    expect(r.status).toBe(400);
    expectEnvelope(r.body);
    expect(r.body.error.code).toBe('invalid_json');
  });

  it('wrong types -> 400 naming the field', async () => {
    const r = await post(JSON.stringify({ model: 'sim-gpt', messages: 'hello' }));
    expect(r.status).toBe(400);
    expectEnvelope(r.body);
    expect(r.body.error.param).toBe('messages');
    // The type it must have, not a failure that follows from it ("should not be empty").
    expect(r.body.error.message).toBe("Invalid 'messages': messages must be an array.");

    const r2 = await post(
      JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }),
    );
    expect(r2.status).toBe(400);
    expect(r2.body.error.param).toBe('temperature');
    expect(r2.body.error.message).toMatch(/^Invalid 'temperature': temperature must be a number/);
  });

  it('empty body -> 400 asking for a JSON object', async () => {
    const r = await post('');
    expect(r.status).toBe(400);
    expectEnvelope(r.body);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.message).toMatch(/JSON object/);
  });

  it('missing messages -> 400', async () => {
    const r = await post(JSON.stringify({ model: 'sim-gpt' }));
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('messages');
  });

  it('unknown model -> 404 model_not_found', async () => {
    const r = await post(JSON.stringify({ model: 'gpt-nonexistent', messages: [{ role: 'user', content: 'x' }] }));
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('model_not_found');
    expect(r.body.error.param).toBe('model');
  });

  it('oversized body -> 413', async () => {
    const huge = 'x'.repeat(3 * 1024 * 1024);
    const r = await post(JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: huge }] }));
    expect(r.status).toBe(413);
    expectEnvelope(r.body);
  });

  it('no key / wrong key -> 401, and no secret is echoed', async () => {
    const r = await post(JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }] }), {
      'content-type': 'application/json',
    });
    expect(r.status).toBe(401);
    const r2 = await post(JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }] }), {
      'content-type': 'application/json',
      authorization: 'Bearer sk-aigw-not-a-real-key-123',
    });
    expect(r2.status).toBe(401);
    expect(JSON.stringify(r2.body)).not.toContain('not-a-real-key');
  });

  it('a request no provider answered leaves a warning with its request id and attempts', async () => {
    system.sim.configure({ failNext: 20, failStatus: [500] });
    try {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'fail me' }] }),
      });
      expect(res.status).toBe(502);
      const id = res.headers.get('x-request-id') ?? '';
      const line = await waitFor(() => {
        const logs = system.apps.flatMap((a) => a.output).join('');
        return logs.split('\n').find((l) => l.includes(`request ${id} failed`)) ?? null;
      });
      expect(line).toMatch(/WARN/);
      expect(line).toMatch(/all_providers_failed \(502\) All providers failed \(\S+\/sim-gpt: provider 500\)/);
    } finally {
      system.sim.configure({ failNext: 0 });
    }
  }, 30_000);

  it("names the client's own x-request-id in that warning, with the request id it ran under", async () => {
    system.sim.configure({ failNext: 20, failStatus: [500] });
    try {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-request-id': 'client-trace-7f3a' },
        body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'fail my trace' }] }),
      });
      expect(res.status).toBe(502);
      expect(res.headers.get('x-request-id')).toBe('client-trace-7f3a');
      const line = await waitFor(() => {
        const logs = system.apps.flatMap((a) => a.output).join('');
        return logs.split('\n').find((l) => l.includes('client-trace-7f3a')) ?? null;
      });
      expect(line).toMatch(/WARN/);
      // Its job and usage record have an id of the gateway's own: another client may send the same x-request-id.
      expect(line).toMatch(
        /request client-trace-7f3a \(request id req_[0-9a-f]+\) failed: all_providers_failed \(502\)/,
      );
    } finally {
      system.sim.configure({ failNext: 0 });
    }
  }, 30_000);

  it('never leaks provider keys in responses or logs', async () => {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/models`, { headers: system.headers() });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('sk-sim-secret');
    const logs = system.apps.map((a) => a.output.join('')).join('\n');
    expect(logs).not.toContain('sk-sim-secret');
    expect(logs).not.toContain(system.adminKey);
  });
});
