import { ApiKeyStore, createDataSourceOptions, UserPreferenceEntity } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { DATABASE_URL } from '../e2e/harness';
import { catalogYaml, routingSystem } from './support';

/**
 * The preference policy reads user_preferences: the user's preference for the request's context, then the
 * user's default, then the system default (ROUTING_DEFAULT_MODEL); the rest by cost, or by the policy the
 * preference names. Three deployments of one model on one simulator, cheapest pa, best pc.
 */
describe('preference policy (e2e)', () => {
  const system = routingSystem({
    simulators: 1,
    env: { ROUTING_DEFAULT_POLICY: 'preference', ROUTING_DEFAULT_MODEL: 'pb/shared' },
    catalog: (s) =>
      catalogYaml(
        ['pa', 'pb', 'pc'].map((id, i) => ({
          id,
          baseUrl: `${s.sims[0].url}/v1`,
          models: [
            { name: 'shared', promptPer1k: 0.001 * (i + 1), quality: 0.3 * (i + 1) },
            // Not on pb: the system default does not apply to it.
            ...(id === 'pb' ? [] : [{ name: 'duo', promptPer1k: 0.001 * (i + 1), quality: 0.3 * (i + 1) }]),
          ],
        })),
      ),
  });
  let db: DataSource;
  const keys: Record<'ctx' | 'none' | 'ranked', string> = { ctx: '', none: '', ranked: '' };

  async function providerFor(key: string, body: Record<string, unknown>): Promise<string | undefined> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: system.headers(key),
      body: JSON.stringify({ prompt: 'which one?', model: 'shared', ...body }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { provider?: string }).provider;
  }

  beforeAll(async () => {
    await system.start();
    db = await new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema: system.schema })).initialize();
    const store = new ApiKeyStore(db);
    const prefs = db.getRepository(UserPreferenceEntity);
    const ctx = await store.create({ userName: 'with-context', role: 'user' });
    await prefs.save([
      { userId: ctx.userId, context: '', model: 'pc/shared', policy: null },
      { userId: ctx.userId, context: 'coding', model: 'pb/shared', policy: null },
    ]);
    const none = await store.create({ userName: 'no-preferences', role: 'user' });
    const ranked = await store.create({ userName: 'ranked', role: 'user' });
    // A preference for a model nobody serves still orders the rest by the policy it names.
    await prefs.save({ userId: ranked.userId, context: '', model: 'gone/model', policy: 'quality' });
    keys.ctx = ctx.key;
    keys.none = none.key;
    keys.ranked = ranked.key;
  }, 90_000);

  afterAll(async () => {
    await db?.destroy();
    await system.stop();
  }, 30_000);

  it("uses the context's preference, else the user's default", async () => {
    expect(await providerFor(keys.ctx, { context: 'coding' })).toBe('pb');
    expect(await providerFor(keys.ctx, {})).toBe('pc');
    expect(await providerFor(keys.ctx, { context: 'other' })).toBe('pc');
  });

  it('falls back to the system default for a user without preferences', async () => {
    expect(await providerFor(keys.none, {})).toBe('pb');
  });

  it('orders the rest by the policy the preference names', async () => {
    // The system default first (the user's own preference matches nothing)...
    expect(await providerFor(keys.ranked, {})).toBe('pb');
    // ...and where it does not apply either, quality decides (cost would pick pa, as for the other user).
    expect(await providerFor(keys.ranked, { model: 'duo' })).toBe('pc');
    expect(await providerFor(keys.none, { model: 'duo' })).toBe('pa');
  });

  it('another policy in the request ignores preferences', async () => {
    expect(await providerFor(keys.ctx, { context: 'coding', policy: 'cost' })).toBe('pa');
    expect(await providerFor(keys.ctx, { policy: 'quality' })).toBe('pc');
  });
});
