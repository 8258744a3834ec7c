import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { waitFor } from '@aigw/testing';
import { createGatewayApp } from '../../../apps/api-gateway/src/bootstrap';
import { chat, DATABASE_URL, GatewayHarness, REDIS_URL } from '../support';
import { call, createKey, createUser } from './admin-support';

/**
 * Two api-gateway replicas on one Redis and schema: a key revoked or a limit set through one applies on the other at
 * once (`auth.changed`), not after AUTH_CACHE_TTL_MS (kept at its 5 s default here). Found by exploratory testing: a
 * revoked key kept working for 5 s on every replica, the one that revoked it included, and a user given a daily limit
 * of 7 made 18 requests that day, those of the 5 s after the change admitted unlimited and counted nowhere.
 */
describe('auth changes across gateway replicas', () => {
  const h = new GatewayHarness();
  let replica: NestFastifyApplication;
  let replicaUrl = '';

  beforeAll(async () => {
    await h.start();
    replica = await createGatewayApp(h.env);
    await replica.listen(0, '127.0.0.1');
    replicaUrl = await replica.getUrl();
  }, 60_000);
  afterAll(async () => {
    await replica.close();
    await h.stop();
  }, 30_000);

  const post = (url: string, key: string, body: unknown): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: h.headers(key), body: JSON.stringify(body) });

  it('a key revoked on one replica is refused on both at once', async () => {
    const user = await createUser(h, 'revoked-at-once');
    const created = await createKey(h, { userId: user.id });
    // Both replicas have the key's lookup cached.
    expect((await post(h.url, created.key, chat('before'))).status).toBe(200);
    expect((await post(replicaUrl, created.key, chat('before'))).status).toBe(200);

    expect((await call(h, 'DELETE', `/api/v1/ai/admin/keys/${created.id}`)).status).toBe(200);
    expect((await post(h.url, created.key, chat('after'))).status).toBe(401);
    await waitFor(async () => (await post(replicaUrl, created.key, chat('after'))).status === 401, {
      timeoutMs: 1_500,
      intervalMs: 50,
    });
  });

  it('a key revoked with the keys CLI is refused on every replica at once', async () => {
    const user = await createUser(h, 'revoked-from-a-shell');
    const created = await createKey(h, { userId: user.id });
    expect((await post(h.url, created.key, chat('before'))).status).toBe(200);
    expect((await post(replicaUrl, created.key, chat('before'))).status).toBe(200);

    // The built tool (as `npm run keys` runs it), with the gateway's variables. It sent nothing: each replica kept
    // the key's cached lookup for AUTH_CACHE_TTL_MS (5 s here), and a leaked key revoked from a shell kept working.
    const cli = join(__dirname, '../../../dist/tools/keys/main.js');
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL,
      DATABASE_SCHEMA: h.schema,
      REDIS_URL,
      REDIS_PREFIX: h.prefix,
    };
    const revoked = await promisify(execFile)(process.execPath, [cli, 'revoke', created.id], { env });
    expect(revoked.stdout).toContain(`Revoked key ${created.prefix}`);
    expect(revoked.stderr).toBe('');
    for (const url of [h.url, replicaUrl]) {
      await waitFor(async () => (await post(url, created.key, chat('after'))).status === 401, {
        timeoutMs: 1_500,
        intervalMs: 50,
      });
    }
  });

  it('a daily limit set on one replica holds on both at once, counting every request after it', async () => {
    const user = await createUser(h, 'limited-at-once');
    const { key } = await createKey(h, { userId: user.id });
    expect((await post(h.url, key, chat('unlimited'))).status).toBe(200);
    expect((await post(replicaUrl, key, chat('unlimited'))).status).toBe(200);

    const put = await call(h, 'PUT', `/api/v1/ai/admin/quotas/${user.id}`, { dailyRequestLimit: 3 });
    expect(put.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await post(i % 2 === 0 ? replicaUrl : h.url, key, chat(`limited ${i}`))).status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    const quota = await call<{ dailyRequests: number }>(h, 'GET', `/api/v1/ai/admin/quotas/${user.id}`);
    expect(quota.body.dailyRequests).toBe(3);
  });
});
