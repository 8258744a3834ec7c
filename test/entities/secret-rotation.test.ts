import { randomBytes } from 'node:crypto';
import { parseCatalog, validateEnv } from '@aigw/core';
import {
  AuditLogEntity,
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

  async function sealed(): Promise<{ t: string; id: string; encrypted_secret: string | null; updated_at: Date }[]> {
    return ds.query(`
      SELECT 'p' AS t, id, encrypted_secret, updated_at FROM providers
      UNION ALL SELECT 'g', id, encrypted_secret, updated_at FROM gateways ORDER BY 1, 2`);
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
      'Re-encrypt them under SECRETS_KEY with: npm run secrets -- rotate',
    ]);

    lines.length = 0;
    expect(await runSecretsCommand({ kind: 'rotate' }, ds, box, io)).toBe(0);
    expect(lines).toEqual([
      'Re-encrypted 2 secret(s) under SECRETS_KEY (providers: 1, gateways: 1).',
      'Already under it: 1 (providers: 1, gateways: 0).',
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
      { providers: { reencrypted: 1, current: 1 }, gateways: { reencrypted: 1, current: 0 } },
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
      dryRun: false,
    });
    expect(await sealed()).toEqual(before);
    expect(await rotations()).toBe(1);
    const lines: string[] = [];
    await runSecretsCommand({ kind: 'rotate' }, ds, SecretBox.fromKey(B), {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    expect(lines).toEqual(['Nothing to re-encrypt: all 3 stored secret(s) are under SECRETS_KEY.']);
  });
});
