import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { validateEnv } from '@aigw/core';
import { CatalogAdminStore, KEEP_SECRET, runMigrationsLocked, SecretBox } from '@aigw/entities';
import { BaseEnv, CatalogService, MigratedDatabase } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const FILE = `
providers:
  - id: openai
    kind: openai
    baseUrl: https://api.openai.com/v1
    apiKey: \${SEED_WARNING_OPENAI_KEY}
    models:
      - { name: gpt-4o-mini, promptPer1k: 0.00015, completionPer1k: 0.0006, contextWindow: 128000 }
`;

/**
 * The boot's warning about what PROVIDERS_FILE says of a provider an admin edited (CatalogService.warnIgnored), as an
 * operator reads it: not at every boot for a provider the admin disabled, but once the file changes its key, naming
 * the field and that the provider is disabled, never the key.
 */
describe('the boot seed warning about admin-edited providers', () => {
  const schema = uniqueSchema('seed_warning');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-seed-warning-'));
  const file = path.join(dir, 'providers.yaml');
  const secretsKey = randomBytes(32).toString('base64');
  let ds: DataSource;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    writeFileSync(file, FILE);
  });

  afterAll(async () => {
    delete process.env.SEED_WARNING_OPENAI_KEY;
    rmSync(dir, { recursive: true, force: true });
    await ds.destroy();
    await dropSchema(schema);
  });

  /** One app start (CatalogService's seed and first read); what it warned. */
  async function boot(key: string): Promise<string[]> {
    process.env.SEED_WARNING_OPENAI_KEY = key;
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const service = new CatalogService(
      validateEnv(BaseEnv, {
        NODE_ENV: 'production',
        SECRETS_KEY: secretsKey,
        PROVIDERS_FILE: file,
        DATABASE_SCHEMA: schema,
      }),
      new MigratedDatabase(ds),
    );
    try {
      await service.onModuleInit();
      return warn.mock.calls.map(([line]) => String(line));
    } finally {
      service.onApplicationShutdown();
      warn.mockRestore();
    }
  }

  it('says nothing at boot after boot about a provider an admin disabled, and names a key rotated in the file', async () => {
    expect(await boot('sk-seed-warning-first')).toEqual([]);
    // Disabled through the admin API (ProviderCommandsService.toggle writes the stored provider so).
    await new CatalogAdminStore(ds, SecretBox.fromKey(secretsKey)).transaction(async (tx) => {
      const openai = (await tx.state()).catalog.providers[0];
      await tx.putProvider({ ...openai, enabled: false }, KEEP_SECRET);
    });
    expect(await boot('sk-seed-warning-first')).toEqual([]);
    expect(await boot('sk-seed-warning-first')).toEqual([]);

    const rotated = await boot('sk-seed-warning-rotated');
    expect(rotated).toEqual([
      `not applied from ${file}, edited through the admin API since (the stored settings stay): ` +
        "provider 'openai' (apiKey; disabled through the admin API); change them through the admin API or a config import",
    ]);
    expect(rotated.join('\n')).not.toContain('sk-seed-warning');
  });
});
