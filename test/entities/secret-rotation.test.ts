import { randomBytes } from 'node:crypto';
import { parseCatalog, validateEnv } from '@aigw/core';
import {
  AuditLogEntity,
  KEEP_SECRET,
  CatalogAdminStore,
  CatalogStore,
  ProviderEntity,
  rotateSecrets,
  runMigrationsLocked,
  SecretBox,
  SecretBoxError,
  UnreadableSecretsError,
} from '@aigw/entities';
import { BaseEnv, CatalogService, MigratedDatabase } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { runSecretsCommand } from '../../tools/secrets/commands';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const OPENAI_SECRET = 'sk-openai-rotation-secret';
const GATEWAY_SECRET = 'sk-litellm-rotation-secret';
const EXTRA_SECRET = 'sk-extra-written-after-the-switch';

const YAML = `
gateways:
  - id: litellm
    baseUrl: http://litellm:4000/v1
    apiKey: \${GW_KEY}
providers:
  - id: openai
    kind: openai
    baseUrl: https://api.openai.com/v1
    apiKey: \${OPENAI_KEY}
    models:
      - { name: gpt-4o-mini, promptPer1k: 0.00015, completionPer1k: 0.0006, contextWindow: 128000 }
  - id: local
    kind: ollama
    baseUrl: http://127.0.0.1:11434
    models:
      - { name: llama3, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192 }
`;

const keyText = () => randomBytes(32).toString('base64');

describe('SECRETS_KEY rotation (real PostgreSQL)', () => {
  const schema = uniqueSchema('secrets');
  const A = keyText();
  const B = randomBytes(32).toString('hex');
  let ds: DataSource;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    await new CatalogStore(ds, SecretBox.fromKey(A)).seed(
      parseCatalog(YAML, { GW_KEY: GATEWAY_SECRET, OPENAI_KEY: OPENAI_SECRET }),
    );
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  /** Each row's stored key, the file's key the seed recorded of it (both envelopes), and when it last changed. */
  async function sealed(): Promise<
    { t: string; id: string; encrypted_secret: string | null; recorded: string | null; updated_at: Date }[]
  > {
    return ds.query(`
      SELECT 'p' AS t, id, encrypted_secret, seeded->>'encryptedSecret' AS recorded, updated_at FROM providers
      UNION ALL SELECT 'g', id, encrypted_secret, seeded->>'encryptedSecret', updated_at FROM gateways ORDER BY 1, 2`);
  }

  const rotations = () => ds.getRepository(AuditLogEntity).count({ where: { action: 'secrets.rotate' } });

  it('with the new key alone, secrets sealed under the old one fail clearly, naming the provider', async () => {
    const err: unknown = await new CatalogStore(ds, SecretBox.fromKey(B)).load().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SecretBoxError);
    expect((err as Error).message).toBe("cannot read the API key of provider 'openai'");
    expect(((err as Error).cause as Error).message).toContain('SECRETS_KEY differs from the key it was encrypted with');
  });

  it('with SECRETS_KEY=B and SECRETS_KEY_PREVIOUS=A, old secrets decrypt and new writes are sealed under B', async () => {
    const box = SecretBox.fromEnv(B, 'production', `${keyText()}, ${A}`).box;
    const catalog = await new CatalogStore(ds, box).load();
    expect(catalog.providers.find((p) => p.id === 'openai')?.apiKey).toBe(OPENAI_SECRET);
    expect(catalog.gateways[0].apiKey).toBe(GATEWAY_SECRET);

    await new CatalogAdminStore(ds, box).transaction(async (tx) => {
      const openai = (await tx.state()).catalog.providers.find((p) => p.id === 'openai');
      await tx.putProvider({ ...openai!, id: 'extra', models: [] }, { set: EXTRA_SECRET });
    });
    const extra = await ds.getRepository(ProviderEntity).findOneByOrFail({ id: 'extra' });
    expect(SecretBox.fromKey(B).decrypt(extra.encryptedSecret!)).toBe(EXTRA_SECRET);
    expect(() => SecretBox.fromKey(A).decrypt(extra.encryptedSecret!)).toThrow(SecretBoxError);
  });

  it("every app's catalog reader takes SECRETS_KEY_PREVIOUS from its validated environment", async () => {
    const catalogOf = (env: Record<string, string>) =>
      new CatalogService(
        validateEnv(BaseEnv, { NODE_ENV: 'production', DATABASE_SCHEMA: schema, ...env }),
        new MigratedDatabase(ds),
      );
    const rotating = catalogOf({ SECRETS_KEY: B, SECRETS_KEY_PREVIOUS: A });
    await rotating.reload();
    expect(rotating.provider('openai')?.apiKey).toBe(OPENAI_SECRET);
    expect(rotating.provider('extra')?.apiKey).toBe(EXTRA_SECRET);
    expect(rotating.current.gateways[0].apiKey).toBe(GATEWAY_SECRET);
    await expect(catalogOf({ SECRETS_KEY: B }).reload()).rejects.toThrow(
      "cannot read the API key of provider 'openai'",
    );
  });

  it('refuses to rotate when a secret decrypts under none of the keys, naming it and changing nothing', async () => {
    const C = SecretBox.fromKey(keyText());
    await ds.query(`UPDATE providers SET encrypted_secret = $1 WHERE id = 'local'`, [C.encrypt('sk-lost')]);
    const before = await sealed();
    const box = SecretBox.fromKey(B, A);
    const err: unknown = await rotateSecrets(ds, box).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnreadableSecretsError);
    expect((err as UnreadableSecretsError).owners).toEqual(["provider 'local'"]);
    expect((err as Error).message).toContain("cannot decrypt the stored API key of provider 'local'");
    expect((err as Error).message).toContain('nothing was changed');
    expect((err as Error).message).not.toContain('sk-lost');
    // One transaction: the readable ones under A were not re-sealed either.
    expect(await sealed()).toEqual(before);
    expect(await rotations()).toBe(0);
    await ds.query(`UPDATE providers SET encrypted_secret = NULL WHERE id = 'local'`);
  });

  it('check counts without writing; rotate re-encrypts under B in one go, after which B alone reads everything', async () => {
    const box = SecretBox.fromKey(B, A);
    const before = await sealed();
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };

    expect(await runSecretsCommand({ kind: 'check' }, ds, box, io)).toBe(0);
    expect(await sealed()).toEqual(before);
    expect(lines).toEqual([
      '3 stored secret(s), all readable.',
      'Under SECRETS_KEY: 1 (providers: 1, gateways: 0).',
      'Under a key in SECRETS_KEY_PREVIOUS: 2 (providers: 1, gateways: 1).',
      'Catalog file keys recorded by the boot seed: 2 (under SECRETS_KEY: 0, under a key in SECRETS_KEY_PREVIOUS: 2).',
      'Re-encrypt them under SECRETS_KEY with: npm run secrets -- rotate',
    ]);

    lines.length = 0;
    expect(await runSecretsCommand({ kind: 'rotate' }, ds, box, io)).toBe(0);
    expect(lines).toEqual([
      'Re-encrypted 2 secret(s) under SECRETS_KEY (providers: 1, gateways: 1).',
      'Already under it: 1 (providers: 1, gateways: 0).',
      'Catalog file keys recorded by the boot seed: 2 re-encrypted, 0 already under it.',
      'Every stored secret is now under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be removed from every process.',
    ]);
    expect(lines.join('\n')).not.toMatch(/sk-|v1:/);
    const after = await sealed();
    expect(after.find((r) => r.id === 'extra')).toEqual(before.find((r) => r.id === 'extra'));
    expect(after.find((r) => r.id === 'openai')?.encrypted_secret).not.toBe(
      before.find((r) => r.id === 'openai')?.encrypted_secret,
    );
    const audits = await ds.getRepository(AuditLogEntity).find({ where: { action: 'secrets.rotate' } });
    expect(audits.map((a) => a.detail)).toEqual([
      {
        providers: { reencrypted: 1, current: 1 },
        gateways: { reencrypted: 1, current: 0 },
        seeded: { reencrypted: 2, current: 0, removed: 0 },
      },
    ]);

    const catalog = await new CatalogStore(ds, SecretBox.fromKey(B)).load();
    expect(catalog.providers.map((p) => [p.id, p.apiKey])).toEqual([
      ['extra', EXTRA_SECRET],
      ['local', undefined],
      ['openai', OPENAI_SECRET],
    ]);
    expect(catalog.gateways[0].apiKey).toBe(GATEWAY_SECRET);
    await expect(new CatalogStore(ds, SecretBox.fromKey(A)).load()).rejects.toThrow(/cannot read the API key of/);
  });

  it('is idempotent: a second rotate changes no row and writes no audit entry', async () => {
    const before = await sealed();
    const summary = await rotateSecrets(ds, SecretBox.fromKey(B, A));
    expect(summary).toEqual({
      providers: { reencrypted: 0, current: 2 },
      gateways: { reencrypted: 0, current: 1 },
      seeded: { reencrypted: 0, current: 2, removed: 0, removedOwners: [] },
      dryRun: false,
    });
    expect(await sealed()).toEqual(before);
    expect(await rotations()).toBe(1);
    const lines: string[] = [];
    await runSecretsCommand({ kind: 'rotate' }, ds, SecretBox.fromKey(B), {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    expect(lines).toEqual([
      'Nothing to re-encrypt: all 3 stored secret(s) and 2 recorded catalog file key(s) are under SECRETS_KEY.',
    ]);
  });
});

/**
 * The boot seed records what the catalog file said of each provider and gateway (`seeded`), the file's API key sealed
 * like the stored one, to warn about an admin-edited row only for what the file changed since. Those copies are
 * secrets too: a rotation that left them under the old key left a secret sealed under a key the operator then retires
 * (and the seed, no longer able to open the record, warned once about the admin's own key as if the file had changed).
 */
describe('SECRETS_KEY rotation of the keys the seed recorded (real PostgreSQL)', () => {
  const schema = uniqueSchema('secrets_seeded');
  const A = keyText();
  const B = keyText();
  const FILE = `${YAML}
  - id: anthropic
    kind: anthropic
    baseUrl: https://api.anthropic.com
    apiKey: \${ANTHROPIC_KEY}
    models:
      - { name: claude-3-5-haiku, promptPer1k: 0.0008, completionPer1k: 0.004, contextWindow: 200000 }
`;
  const ENV = { GW_KEY: GATEWAY_SECRET, OPENAI_KEY: OPENAI_SECRET, ANTHROPIC_KEY: 'sk-anthropic-rotation-secret' };
  let ds: DataSource;

  /** Each row's stored key and recorded key (envelopes), and when its settings last changed. */
  const rows = (): Promise<
    { t: string; id: string; stored: string | null; recorded: string | null; updated_at: Date }[]
  > =>
    ds.query(`
      SELECT 'p' AS t, id, encrypted_secret AS stored, seeded->>'encryptedSecret' AS recorded, updated_at FROM providers
      UNION ALL SELECT 'g', id, encrypted_secret, seeded->>'encryptedSecret', updated_at FROM gateways ORDER BY 1, 2`);

  const output = () => {
    const lines: string[] = [];
    return { lines, io: { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) } };
  };

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    const underA = SecretBox.fromKey(A);
    await new CatalogStore(ds, underA).seed(parseCatalog(FILE, ENV));
    // An admin sets another key for openai, and the gateway's timeout: both rows are the admin's now; openai's
    // record holds the file's key (not the stored one), the gateway's the same envelope as its stored key.
    await new CatalogAdminStore(ds, underA).transaction(async (tx) => {
      const { catalog } = await tx.state();
      await tx.putProvider(
        catalog.providers.find((p) => p.id === 'openai')!,
        { set: 'sk-openai-admin' },
      );
      await tx.putGateway({ ...catalog.gateways[0], timeoutMs: 1000 }, KEEP_SECRET);
    });
    const summary = await new CatalogStore(ds, underA).seed(parseCatalog(FILE, ENV));
    expect(summary.providers.ignored).toEqual([]);
    expect(summary.gateways.ignored).toEqual([]);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('check counts them; rotate re-encrypts them with the stored keys; with A retired, the seed warns about nothing', async () => {
    const rotating = SecretBox.fromKey(B, A);
    // The rollout of B: the seed reads the records under A and leaves them so (the file did not change).
    expect((await new CatalogStore(ds, rotating).seed(parseCatalog(FILE, ENV))).providers.ignored).toEqual([]);
    const before = await rows();
    expect(before.filter((r) => r.recorded !== null).map((r) => r.id)).toEqual(['litellm', 'anthropic', 'openai']);

    const check = output();
    expect(await runSecretsCommand({ kind: 'check' }, ds, rotating, check.io)).toBe(0);
    expect(check.lines).toEqual([
      '3 stored secret(s), all readable.',
      'Under SECRETS_KEY: 0 (providers: 0, gateways: 0).',
      'Under a key in SECRETS_KEY_PREVIOUS: 3 (providers: 2, gateways: 1).',
      'Catalog file keys recorded by the boot seed: 3 (under SECRETS_KEY: 0, under a key in SECRETS_KEY_PREVIOUS: 3).',
      'Re-encrypt them under SECRETS_KEY with: npm run secrets -- rotate',
    ]);
    expect(await rows()).toEqual(before);

    const rotate = output();
    expect(await runSecretsCommand({ kind: 'rotate' }, ds, rotating, rotate.io)).toBe(0);
    expect(rotate.lines).toEqual([
      'Re-encrypted 3 secret(s) under SECRETS_KEY (providers: 2, gateways: 1).',
      'Already under it: 0 (providers: 0, gateways: 0).',
      'Catalog file keys recorded by the boot seed: 3 re-encrypted, 0 already under it.',
      'Every stored secret is now under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be removed from every process.',
    ]);
    expect(rotate.lines.join('\n')).not.toMatch(/sk-|v1:/);
    const audits = await ds.getRepository(AuditLogEntity).find({ where: { action: 'secrets.rotate' } });
    expect(audits.map((a) => a.detail)).toEqual([
      {
        providers: { reencrypted: 2, current: 0 },
        gateways: { reencrypted: 1, current: 0 },
        seeded: { reencrypted: 3, current: 0, removed: 0 },
      },
    ]);

    // Nothing sealed under A is left: B alone opens every key and every record, A none.
    const after = await rows();
    const onlyB = SecretBox.fromKey(B);
    for (const row of after.filter((r) => r.recorded !== null)) {
      expect(() => SecretBox.fromKey(A).decrypt(row.recorded!)).toThrow(SecretBoxError);
      expect(onlyB.decrypt(row.recorded!)).toBe(row.id === 'openai' ? OPENAI_SECRET : onlyB.decrypt(row.stored!));
    }
    // A record that was the stored envelope is the stored one again (the seed compares envelopes of file rows).
    expect(after.find((r) => r.id === 'litellm')?.recorded).toBe(after.find((r) => r.id === 'litellm')?.stored);
    expect(after.find((r) => r.id === 'anthropic')?.recorded).toBe(after.find((r) => r.id === 'anthropic')?.stored);

    // A retired: the next boot has nothing to warn about and nothing to write.
    const retired = await new CatalogStore(ds, onlyB).seed(parseCatalog(FILE, ENV));
    expect(retired.providers.ignored).toEqual([]);
    expect(retired.gateways.ignored).toEqual([]);
    expect(await rows()).toEqual(after);

    const again = output();
    expect(await runSecretsCommand({ kind: 'rotate' }, ds, onlyB, again.io)).toBe(0);
    expect(again.lines).toEqual([
      'Nothing to re-encrypt: all 3 stored secret(s) and 3 recorded catalog file key(s) are under SECRETS_KEY.',
    ]);
    expect(await rows()).toEqual(after);
  });

  it('re-encrypts a record alone without touching updated_at, and removes one no key opens (check says so first)', async () => {
    const C = keyText();
    const lost = SecretBox.fromKey(keyText());
    // The file's openai key recorded under C (a previous key), the gateway's under a key nobody holds any more.
    await ds.query(
      `UPDATE providers SET seeded = jsonb_set(seeded, '{encryptedSecret}', to_jsonb($1::text)) WHERE id = 'openai'`,
      [SecretBox.fromKey(C).encrypt(OPENAI_SECRET)],
    );
    await ds.query(
      `UPDATE gateways SET seeded = jsonb_set(seeded, '{encryptedSecret}', to_jsonb($1::text)) WHERE id = 'litellm'`,
      [lost.encrypt(GATEWAY_SECRET)],
    );
    const box = SecretBox.fromKey(B, C);
    const before = await rows();
    const seededBefore = await ds.query<{ id: string; seeded: Record<string, unknown> }[]>(
      `SELECT id, seeded FROM gateways`,
    );

    const check = output();
    expect(await runSecretsCommand({ kind: 'check' }, ds, box, check.io)).toBe(0);
    expect(check.lines).toEqual([
      '3 stored secret(s), all readable.',
      'Under SECRETS_KEY: 3 (providers: 2, gateways: 1).',
      'Under a key in SECRETS_KEY_PREVIOUS: 0 (providers: 0, gateways: 0).',
      'Catalog file keys recorded by the boot seed: 3 (under SECRETS_KEY: 1, under a key in SECRETS_KEY_PREVIOUS: 1).',
      "Recorded under none of the keys: 1 (gateway 'litellm'): rotate removes them, the next boot records the file's key again.",
      'Re-encrypt them under SECRETS_KEY with: npm run secrets -- rotate',
    ]);
    expect(await rows()).toEqual(before);

    const rotate = output();
    expect(await runSecretsCommand({ kind: 'rotate' }, ds, box, rotate.io)).toBe(0);
    expect(rotate.lines).toEqual([
      'Re-encrypted 0 secret(s) under SECRETS_KEY (providers: 0, gateways: 0).',
      'Already under it: 3 (providers: 2, gateways: 1).',
      'Catalog file keys recorded by the boot seed: 1 re-encrypted, 1 already under it.',
      "Recorded under none of the keys, removed: 1 (gateway 'litellm'): the next boot records the file's key again.",
      'Every stored secret is now under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be removed from every process.',
    ]);
    const after = await rows();
    expect(after.map(({ id, stored, updated_at }) => ({ id, stored, updated_at }))).toEqual(
      before.map(({ id, stored, updated_at }) => ({ id, stored, updated_at })),
    );
    const openai = after.find((r) => r.id === 'openai')!;
    expect(SecretBox.fromKey(B).decrypt(openai.recorded!)).toBe(OPENAI_SECRET);
    // The rest of the gateway's record stays: only the key nothing can open is gone.
    const [gateway] = await ds.query<{ seeded: Record<string, unknown> }[]>(`SELECT seeded FROM gateways`);
    const { encryptedSecret: _gone, ...rest } = seededBefore[0].seeded;
    expect(gateway.seeded).toEqual(rest);

    // The gateway's stored key is the file's: the seed records it again, with nothing to warn about.
    const seed = await new CatalogStore(ds, SecretBox.fromKey(B)).seed(parseCatalog(FILE, ENV));
    expect(seed.gateways.ignored).toEqual([]);
    expect(seed.providers.ignored).toEqual([]);
    const reseeded = await rows();
    expect(reseeded.find((r) => r.id === 'litellm')?.recorded).toBe(reseeded.find((r) => r.id === 'litellm')?.stored);
  });

  it('refuses, changing no record either, when a stored key decrypts under none of the keys', async () => {
    await ds.query(
      `UPDATE providers SET seeded = jsonb_set(seeded, '{encryptedSecret}', to_jsonb($1::text)) WHERE id = 'openai'`,
      [SecretBox.fromKey(A).encrypt(OPENAI_SECRET)],
    );
    await ds.query(`UPDATE providers SET encrypted_secret = $1 WHERE id = 'local'`, [
      SecretBox.fromKey(keyText()).encrypt('sk-lost'),
    ]);
    const before = await rows();
    await expect(rotateSecrets(ds, SecretBox.fromKey(B, A))).rejects.toThrow(UnreadableSecretsError);
    expect(await rows()).toEqual(before);
  });
});
