import { MigratedDatabase } from '@aigw/platform';
import { createDataSourceOptions, PreferenceStore, runMigrationsLocked, UserEntity } from '@aigw/entities';
import { CommitReplyDroppingRelay } from '@aigw/testing';
import { DataSource } from 'typeorm';
import { PreferenceUsage } from '../../apps/router-worker/src/routing/preference-usage';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

/**
 * The preference usage counters are written every second; a write whose reply is lost (the connection dropped after
 * PostgreSQL committed it) is kept for the next flush. That flush must not add the same uses a second time: the
 * counters are shown to the user as how often each preference was used.
 */
describe('router-worker: preference usage written once when the reply to its commit is lost', () => {
  const schema = uniqueSchema('prefuse');
  const relay = new CommitReplyDroppingRelay();
  let direct: DataSource;
  let relayed: DataSource;
  let prefs: PreferenceStore;

  beforeAll(async () => {
    direct = await openDataSource(schema);
    await runMigrationsLocked(direct);
    prefs = new PreferenceStore(direct);
    await relay.open();
    relayed = await new DataSource(createDataSourceOptions({ url: relay.url(), schema, poolSize: 2 })).initialize();
  });

  afterAll(async () => {
    await relayed?.destroy();
    await relay.close();
    await direct?.destroy();
    await dropSchema(schema);
  });

  async function preferenceOfNewUser(): Promise<string> {
    const userId = (await direct.getRepository(UserEntity).save({ name: `u${Math.random()}` })).id;
    await prefs.upsert(userId, { context: '', provider: 'pa', model: 'm1' });
    return userId;
  }

  async function usageCount(userId: string): Promise<number> {
    return (await prefs.list(userId, ''))[0].usageCount;
  }

  it('the reply to the committed write lost: the retried flush adds the uses once', async () => {
    const userId = await preferenceOfNewUser();
    const usage = new PreferenceUsage(new MigratedDatabase(relayed));
    for (let i = 0; i < 3; i++) {
      usage.record(userId, '', 'pa/m1');
    }
    // The write is one statement in autocommit: its reply says it committed.
    relay.dropReplyTo('usage_count = p.usage_count');
    const droppedBefore = relay.dropped;
    await usage.flush();
    expect(relay.dropped).toBe(droppedBefore + 1);

    await usage.flush();
    expect(await usageCount(userId)).toBe(3);

    // Counting goes on as usual afterwards.
    usage.record(userId, '', 'pa/m1');
    await usage.flush();
    expect(await usageCount(userId)).toBe(4);
  });
});
