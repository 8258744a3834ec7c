import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

interface JobView {
  status: string;
  result?: { text: string; costUsd: number };
  error?: { message: string; type: string; code: string; param: string | null };
}

/**
 * Async jobs queued while no worker runs, by keys that are revoked or expire before a worker takes them: they end with
 * the 401 the gateway gives such a key, without a provider call, and what admission reserved for them is given back.
 * Before, the worker ran them and billed their user.
 */
describe('queued jobs of a key revoked or expired before a worker takes them (e2e)', () => {
  // Split topology: the jobs must wait for a worker that is not there yet. Every job is checked, however short its wait
  // (the default skips jobs taken within 1 s of admission, and how long a worker takes to start is no test's business).
  const system = new TestSystem({
    topology: 'split',
    workers: 0,
    appEnv: { 'router-worker': { KEY_RECHECK_AFTER_MS: '0' } },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
  }, 30_000);

  async function submit(key: string, prompt: string): Promise<string> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers: system.headers(key),
      body: JSON.stringify({ model: 'sim-gpt', prompt }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { jobId: string }).jobId;
  }

  /** The job once finished, read with the admin key (the revoked key cannot read it any more). */
  async function finished(jobId: string): Promise<JobView> {
    return waitFor(
      async () => {
        const r = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
        const view = (await r.json()) as JobView;
        return view.status === 'completed' || view.status === 'failed' ? view : null;
      },
      { timeoutMs: 30_000, message: `job ${jobId} did not finish` },
    );
  }

  it('fails the revoked and the expired key’s jobs with their 401 and refunds them; the valid key’s job runs', async () => {
    const user = await system.admin<{ id: string }>('POST', '/users', { name: 'queued-keys' });
    // A spend limit makes admission reserve each job's worst-case cost, which a job that never runs must give back.
    await system.admin('PUT', `/quotas/${user.id}`, { dailySpendLimitUsd: 10 });
    const revoked = await system.admin<{ id: string; key: string }>('POST', '/keys', { userId: user.id });
    const kept = await system.admin<{ id: string; key: string }>('POST', '/keys', { userId: user.id });
    const expiresAt = Date.now() + 1_500;
    const expiring = await system.admin<{ id: string; key: string }>('POST', '/keys', {
      userId: user.id,
      expiresAt: new Date(expiresAt).toISOString(),
    });

    const revokedJob = await submit(revoked.key, 'from the key revoked while queued');
    const keptJob = await submit(kept.key, 'from the key that stays');
    const expiringJob = await submit(expiring.key, 'from the key that expires while queued');
    const reserved = await system.admin<{ dailySpendUsd: number }>('GET', `/quotas/${user.id}`);
    expect(reserved.dailySpendUsd).toBeGreaterThan(0);

    await system.admin('DELETE', `/keys/${revoked.id}`);
    await waitFor(() => Date.now() > expiresAt + 100, { timeoutMs: 5_000, message: 'the key did not expire' });
    await system.addReplica('router-worker');

    const [revokedView, keptView, expiredView] = await Promise.all([
      finished(revokedJob),
      finished(keptJob),
      finished(expiringJob),
    ]);
    expect(revokedView).toMatchObject({
      status: 'failed',
      error: { type: 'authentication_error', code: 'invalid_api_key', message: 'Invalid API key.' },
    });
    expect(expiredView).toMatchObject({
      status: 'failed',
      error: { type: 'authentication_error', code: 'key_expired', message: 'This API key has expired.' },
    });
    expect(keptView).toMatchObject({ status: 'completed', result: { text: 'from the key that stays' } });

    // One provider call: the valid key's.
    expect(system.sim.stats().total).toBe(1);
    expect(system.sim.lastRequests().map((r) => JSON.stringify(r.body))).toEqual([
      expect.stringContaining('from the key that stays'),
    ]);
    // Only what that call cost stays spent: the refused jobs' reservations were given back.
    await waitFor(
      async () => {
        const spent = (await system.admin<{ dailySpendUsd: number }>('GET', `/quotas/${user.id}`)).dailySpendUsd;
        return Math.abs(spent - (keptView.result?.costUsd ?? NaN)) < 1e-6;
      },
      { message: 'the refused jobs still hold their reservations' },
    );
    // Each refused job has its usage row, as a failure that cost nothing.
    const rows = await waitFor(
      async () => {
        const found = await system.query<{ api_key_id: string; status: string; error_code: string; cost_usd: string }>(
          'SELECT api_key_id, status, error_code, cost_usd FROM usage_records WHERE api_key_id = ANY($1)',
          [[revoked.id, expiring.id]],
        );
        return found.length === 2 ? found : null;
      },
      { message: 'no usage rows for the refused jobs' },
    );
    expect(rows.map((r) => [r.api_key_id, r.status, r.error_code, Number(r.cost_usd)]).sort()).toEqual(
      [
        [revoked.id, 'error', 'invalid_api_key', 0],
        [expiring.id, 'error', 'key_expired', 0],
      ].sort(),
    );
  }, 90_000);
});
