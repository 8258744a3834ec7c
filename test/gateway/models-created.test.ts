import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { CatalogService } from '@aigw/platform';
import { DataSource } from 'typeorm';
import { createGatewayApp } from '../../apps/api-gateway/src/bootstrap';
import { GatewayHarness } from './support';

const JAN_2024 = 1_704_067_200;

/**
 * `created` of `GET /v1/models` is when the deployment joined the catalog (its row's `created_at`), not when the
 * process started: two replicas over one database answer the same list, and a restart does not change it (clients
 * caching the list see no churn). Catalog (support.ts): sim/sim-gpt, sim-b/sim-claude, sim-b/sim-gpt disabled.
 */
describe('GET /v1/models created', () => {
  const h = new GatewayHarness();
  let replica: NestFastifyApplication | null = null;

  beforeAll(async () => {
    await h.start();
    // Times no process could have started at, so that the process's clock cannot pass for them.
    await h.app.get(DataSource).query(
      `UPDATE models SET created_at = to_timestamp(CASE
         WHEN provider_id = 'sim' AND name = 'sim-gpt' THEN ${JAN_2024}
         WHEN provider_id = 'sim-b' AND name = 'sim-claude' THEN ${JAN_2024 + 100}
         ELSE ${JAN_2024 - 1000} END)`,
    );
    await h.app.get(CatalogService).reload();
  }, 60_000);
  afterAll(async () => {
    await replica?.close();
    await h.stop();
  }, 30_000);

  async function created(url: string): Promise<Record<string, number>> {
    const res = await fetch(`${url}/v1/models`, { headers: h.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string; created: number }[] };
    return Object.fromEntries(body.data.map((m) => [m.id, m.created]));
  }

  it("is each deployment's row's created_at; a model name's is its earliest enabled deployment's", async () => {
    expect(await created(h.url)).toEqual({
      'sim/sim-gpt': JAN_2024,
      'sim-b/sim-claude': JAN_2024 + 100,
      // sim-b/sim-gpt, older, is disabled: not listed, and not what dates the name.
      'sim-gpt': JAN_2024,
      'sim-claude': JAN_2024 + 100,
    });
    const one = await fetch(`${h.url}/v1/models/sim-b%2Fsim-claude`, { headers: h.headers() });
    expect(((await one.json()) as { created: number }).created).toBe(JAN_2024 + 100);
    const anthropic = await fetch(`${h.url}/v1/models/sim-gpt`, {
      headers: h.headers(h.adminKey, { 'anthropic-version': '2023-06-01' }),
    });
    expect(((await anthropic.json()) as { created_at: string }).created_at).toBe('2024-01-01T00:00:00.000Z');
  });

  it('is the same on another replica started later over the same database (and its seeding of the file)', async () => {
    replica = await createGatewayApp(h.env);
    await replica.listen(0, '127.0.0.1');
    const other = await created(await replica.getUrl());
    expect(other).toEqual(await created(h.url));
    expect(other['sim/sim-gpt']).toBe(JAN_2024);
  });
});
