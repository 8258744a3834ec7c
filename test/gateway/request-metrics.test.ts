import { ApiKeyStore } from '@aigw/entities';
import { chat, GatewayHarness } from './support';

/**
 * `aigw_requests_total{provider,model,status,cache}` counts every generation request the gateway answered, those it
 * refused before running them included: a dashboard of errors by code must show what the clients got.
 */
describe('aigw_requests_total counts refused requests', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  /** The gateway's `aigw_requests_total` samples of failed requests, by status. */
  async function failuresByStatus(): Promise<Record<string, number>> {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(
      /^aigw_requests_total\{provider="none",model="none",status="([^"]+)",cache="bypass"\} (\S+)$/gm,
    )) {
      counts[m[1]] = Number(m[2]);
    }
    return counts;
  }

  it('counts rate-limited requests, streamed, sync or async, as rate_limit_exceeded', async () => {
    const { key } = await h.app.get(ApiKeyStore).create({ userName: 'rpm-one', role: 'user', rpm: 1 });
    expect((await h.post('/v1/chat/completions', chat('first'), h.headers(key))).status).toBe(200);
    const refused = await h.post('/v1/chat/completions', chat('second'), h.headers(key));
    expect(refused.status).toBe(429);
    const streamed = await h.post('/v1/chat/completions', chat('third', { stream: true }), h.headers(key));
    expect(streamed.status).toBe(429);
    const native = await h.post('/api/v1/ai/generate', { model: 'sim-gpt', prompt: 'fourth' }, h.headers(key));
    expect(native.status).toBe(429);
    const job = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt: 'fifth' }, h.headers(key));
    expect(job.status).toBe(429);

    expect((await failuresByStatus()).rate_limit_exceeded).toBe(4);
  });

  it('counts a model nobody serves as model_not_found', async () => {
    const res = await h.post('/v1/chat/completions', { ...chat('x'), model: 'no-such-model' });
    expect(res.status).toBe(404);
    expect((await failuresByStatus()).model_not_found).toBe(1);
  });
});
