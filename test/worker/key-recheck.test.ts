import { validateEnv, type GenerationRequest } from '@aigw/core';
import { ApiKeyStore, runMigrationsLocked } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';
import { KeyRecheck } from '../../apps/router-worker/src/jobs/key-recheck';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

/** KeyRecheck against a real PostgreSQL with the real migrations: which queued jobs it refuses, and what it reads. */
describe('KeyRecheck (PostgreSQL)', () => {
  const schema = uniqueSchema('recheck');
  let ds: DataSource;
  let keys: ApiKeyStore;
  let queries: jest.SpyInstance;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    keys = new ApiKeyStore(ds);
    queries = jest.spyOn(ds, 'query');
  });

  afterAll(async () => {
    queries.mockRestore();
    await ds.destroy();
    await dropSchema(schema);
  });

  function recheck(afterMs = 1_000): KeyRecheck {
    return new KeyRecheck(new MigratedDatabase(ds), validateEnv(WorkerEnv, { KEY_RECHECK_AFTER_MS: String(afterMs) }));
  }

  function requestOf(apiKeyId: string, receivedAt: number): GenerationRequest {
    return {
      requestId: `req_${receivedAt}`,
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'hi' }],
      options: {},
      stream: false,
      userId: '00000000-0000-4000-8000-000000000000',
      apiKeyId,
      receivedAt,
      deadlineAt: receivedAt + 60_000,
    };
  }

  it('reads nothing for a job taken within the threshold, nor for a coalesced one, revoked key or not', async () => {
    const key = await keys.create({ userName: 'fresh', role: 'user' });
    await keys.revoke(key.id);
    const check = recheck();
    const now = Date.now();
    queries.mockClear();
    expect(await check.refusal(requestOf(key.id, now - 999), false, false, now)).toBeNull();
    expect(await check.refusal(requestOf(key.id, now - 60_000), false, true, now)).toBeNull();
    expect(queries).not.toHaveBeenCalled();
  });

  it('checks a synchronous job only past a long wait (gateway and worker clocks may be seconds apart)', async () => {
    const key = await keys.create({ userName: 'sync', role: 'user' });
    await keys.revoke(key.id);
    const check = recheck();
    const now = Date.now();
    queries.mockClear();
    expect(await check.refusal(requestOf(key.id, now - 5_000), true, false, now)).toBeNull();
    expect(queries).not.toHaveBeenCalled();
    expect((await check.refusal(requestOf(key.id, now - 31_000), true, false, now))?.toBody()).toMatchObject({
      code: 'invalid_api_key',
    });
  });

  it('refuses a job that waited when its key was revoked, expired or deleted with its user; runs the others', async () => {
    const valid = await keys.create({ userName: 'waiting', role: 'user' });
    const revoked = await keys.create({ userName: 'waiting', role: 'user' });
    await keys.revoke(revoked.id);
    const now = Date.now();
    const expired = await keys.create({ userName: 'waiting', role: 'user', expiresAt: new Date(now + 1_000) });
    const later = await keys.create({ userName: 'waiting', role: 'user', expiresAt: new Date(now + 60_000) });
    const deleted = await keys.create({ userName: 'deleted', role: 'user' });
    await ds.query('DELETE FROM users WHERE id = $1', [deleted.userId]);
    const check = recheck();
    const at = now + 2_000;
    const refusal = async (id: string) => (await check.refusal(requestOf(id, now), false, false, at))?.toBody() ?? null;

    expect(await refusal(valid.id)).toBeNull();
    expect(await refusal(later.id)).toBeNull();
    expect(await refusal(revoked.id)).toMatchObject({
      type: 'authentication_error',
      code: 'invalid_api_key',
      message: 'Invalid API key.',
    });
    expect(await refusal(deleted.id)).toMatchObject({ code: 'invalid_api_key' });
    expect(await refusal(expired.id)).toMatchObject({ code: 'key_expired', message: 'This API key has expired.' });
  });

  it('reads a key once per second for a backlog of its jobs', async () => {
    const key = await keys.create({ userName: 'backlog', role: 'user' });
    const check = recheck(0);
    const now = Date.now();
    queries.mockClear();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => check.refusal(requestOf(key.id, now - i), false, false, now)),
    );
    expect(answers.every((a) => a === null)).toBe(true);
    expect(queries).toHaveBeenCalledTimes(1);
    await check.refusal(requestOf(key.id, now), false, false, now + 1_000);
    expect(queries).toHaveBeenCalledTimes(2);
  });

  it('runs the job as admitted when PostgreSQL fails', async () => {
    const key = await keys.create({ userName: 'outage', role: 'user' });
    await keys.revoke(key.id);
    const check = recheck(0);
    queries.mockRejectedValueOnce(new Error('connection terminated'));
    const now = Date.now();
    expect(await check.refusal(requestOf(key.id, now), false, false, now)).toBeNull();
  });
});
