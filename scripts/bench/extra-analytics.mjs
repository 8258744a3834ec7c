// Extra: the admin analytics over a big usage table (issue 11, ADR 0009). Seeds N usage_records rows (default
// 5 million) in a scratch schema with one generate_series INSERT ... SELECT, builds the hourly and daily rollups
// with the rollup migration's own INSERT ... SELECT GROUP BY, then times each analytics query through the real
// AnalyticsService and stores of dist/ (no HTTP: the figures are the database work). The seeded schema is kept
// between runs, keyed by SEED_VERSION and the row count, so only the first run pays the seeding.
//
// Standalone: node scripts/bench/extra-analytics.mjs [--analytics-rows N] [--analytics-runs N]  (after npm run build)
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bump when the seed's shape or the rollup schema changes: a cached schema of another version is rebuilt. */
const SEED_VERSION = 'v1';
const DEFAULT_ROWS = 5_000_000;
const DEFAULT_RUNS = 20;
const DAYS = 60;
const USERS = 200;
const KEYS = 400;
const DEPLOYMENTS = [
  ['openai', 'gpt-4o'],
  ['openai', 'gpt-4o-mini'],
  ['anthropic', 'claude-sonnet'],
  ['anthropic', 'claude-haiku'],
  ['zai', 'glm-4.6'],
  ['deepseek', 'deepseek-chat'],
  ['ollama', 'llama3.1'],
  ['vllm', 'qwen2.5'],
];
/** The seeded data ends here; "now" for every query. Not on an hour: every range has raw-record edges. */
const END = new Date('2026-11-30T13:37:00.000Z');
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function load(rel) {
  return import(pathToFileURL(path.join(root, 'dist', rel)).href);
}

function percentile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1];
}

/** A deployment per key (with 1 request in 10 on the next one), 2 % errors nobody answered, 10 % cache hits. */
function seedSql(rows) {
  const deployments = `(ARRAY[${DEPLOYMENTS.map(([p]) => `'${p}'`).join(',')}])`;
  const models = `(ARRAY[${DEPLOYMENTS.map(([, m]) => `'${m}'`).join(',')}])`;
  const dep = `(1 + ((g % ${KEYS}) + (CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END)) % ${DEPLOYMENTS.length})`;
  const spanS = DAYS * 86_400;
  return `INSERT INTO usage_records (request_id, user_id, api_key_id, requested_model, provider, model, prompt_tokens,
      completion_tokens, cached_tokens, cost_usd, cost_saved_usd, latency_ms, cached, status, error_class, attempts, created_at)
    SELECT 'bench-' || g,
           ('00000000-0000-4000-8000-' || lpad(((g % ${KEYS}) % ${USERS})::text, 12, '0'))::uuid,
           ('00000000-0000-4000-9000-' || lpad((g % ${KEYS})::text, 12, '0'))::uuid,
           ${models}[${dep}],
           CASE WHEN g % 50 = 7 THEN NULL ELSE ${deployments}[${dep}] END,
           CASE WHEN g % 50 = 7 THEN NULL ELSE ${models}[${dep}] END,
           200 + (g * 7) % 1800, 20 + (g * 13) % 600, CASE WHEN g % 10 = 3 THEN 200 + g % 800 ELSE 0 END,
           CASE WHEN g % 50 = 7 OR g % 10 = 3 THEN 0 ELSE ((g * 7919) % 90000) / 1e7 END,
           CASE WHEN g % 10 = 3 THEN ((g * 7919) % 90000) / 1e7 ELSE 0 END,
           CASE WHEN g % 10 = 3 THEN 2 + g % 10 ELSE (150 * exp(((g * 104729) % 1000) / 250.0))::int END,
           g % 10 = 3,
           CASE WHEN g % 50 = 7 THEN 'error' ELSE 'success' END,
           CASE WHEN g % 50 = 7 THEN 'network' END,
           1,
           $1::timestamptz - ((${rows} - g) * (${spanS}::float8 / ${rows})) * interval '1 second'
      FROM generate_series(1::bigint, ${rows}::bigint) g`;
}

/** Statistics and visibility maps for every table of the schema, as autovacuum would eventually leave them. */
async function vacuumAnalyze(ds, schema) {
  const tables = await ds.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [schema]);
  for (const { tablename } of tables) {
    await ds.query(`VACUUM ANALYZE "${schema}"."${tablename}"`);
  }
}

async function ensureSeeded({ rows, log, entities }) {
  const schema = `bench_analytics_${SEED_VERSION}_${rows}`;
  // Without the apps' 30 s read timeout: seeding millions of rows, and the rollups' backfill, are single statements
  // that run longer (the apps' own migrations run without it too).
  const ds = await new entities.DataSource(
    entities.createDataSourceOptions({ url: DATABASE_URL, schema, poolSize: 4, readTimeoutMs: 0 }),
  ).initialize();
  const [marker] = await ds.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [`"${schema}".bench_seeded`]);
  if (marker.present) {
    log(`analytics: reusing seeded schema ${schema}`);
    // Migrations added since the seeding (indexes, say) apply to the kept data; a change to the seed's or the
    // rollups' shape bumps SEED_VERSION instead.
    const applied = await entities.runMigrationsLocked(ds, (line) => log(`analytics: ${line}`));
    if (applied.length > 0) {
      await vacuumAnalyze(ds, schema);
    }
    return { ds, schema, seededS: null, rollupS: null };
  }
  await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await entities.runMigrationsLocked(ds);
  log(`analytics: seeding ${rows} usage rows into ${schema} (first run only)`);
  let t = performance.now();
  await ds.query(seedSql(rows), [END]);
  const seededS = (performance.now() - t) / 1000;
  log(`analytics: seeded in ${seededS.toFixed(0)} s; building the rollups`);
  // The rollup migration's own backfill: undo it (dropping the empty rollups) and every migration after it, then
  // apply them all again, so later migrations' indexes on the rollups are there too.
  t = performance.now();
  const applied = async () => (await ds.query(`SELECT name FROM migrations`)).map((m) => m.name);
  while ((await applied()).includes('UsageRollups1796000000000')) {
    await ds.undoLastMigration({ transaction: 'each' });
  }
  await entities.runMigrationsLocked(ds);
  const rollupS = (performance.now() - t) / 1000;
  await vacuumAnalyze(ds, schema);
  await ds.query(`CREATE TABLE bench_seeded (rows bigint, seeded_s float8, rollup_s float8)`);
  await ds.query(`INSERT INTO bench_seeded VALUES ($1, $2, $3)`, [rows, seededS, rollupS]);
  return { ds, schema, seededS, rollupS };
}

export async function runAnalyticsBench({ rows = DEFAULT_ROWS, runs = DEFAULT_RUNS, log = console.error } = {}) {
  const typeorm = await import('typeorm');
  const lib = await load('libs/entities/src/index.js');
  const { AnalyticsService } = await load('apps/api-gateway/src/analytics/analytics.service.js');
  const entities = { ...lib, DataSource: typeorm.DataSource };
  const { ds, schema, seededS, rollupS } = await ensureSeeded({ rows, log, entities });
  try {
    const [[counts], [first]] = await Promise.all([
      ds.query(
        `SELECT (SELECT count(*) FROM usage_hourly) AS hourly, (SELECT count(*) FROM usage_daily) AS daily,
                (SELECT count(*) FROM usage_deployment_hourly) AS deployment_hourly,
                (SELECT count(*) FROM usage_deployment_daily) AS deployment_daily`,
      ),
      ds.query(`SELECT seeded_s, rollup_s FROM bench_seeded`),
    ]);
    const store = new lib.UsageAnalyticsStore(ds);
    const service = new AnalyticsService(store, () => END);
    const report = new lib.UsageReportStore(ds);
    const day = 86_400_000;
    const ago = (days) => new Date(END.getTime() - days * day).toISOString();
    const to = END.toISOString();
    const queries = [
      ['admin/usage groupBy=provider, 30 days', () => service.usage({ from: ago(30), to, groupBy: 'provider' })],
      ['admin/usage groupBy=model, 30 days', () => service.usage({ from: ago(30), to, groupBy: 'model' })],
      [
        'admin/usage groupBy=user, 30 days (page 1 of 100)',
        () => service.usage({ from: ago(30), to, groupBy: 'user' }),
      ],
      ['admin/usage groupBy=day, all 60 days', () => service.usage({ from: ago(60), to, groupBy: 'day' })],
      ['admin/usage groupBy=hour, 7 days', () => service.usage({ from: ago(7), to, groupBy: 'hour' })],
      ['admin/costs by=day, 30 days + projection', () => service.costs({ from: ago(30), to, by: 'day' })],
      ['admin/costs by=user, 60 days + projection', () => service.costs({ from: ago(60), to, by: 'user' })],
      ['metrics, last 24 h (hourly series)', () => service.metrics({})],
      ['metrics, 30 days (daily series)', () => service.metrics({ from: ago(30), to })],
      [
        "usage (caller's own), 30 days by day",
        () => report.summarize('00000000-0000-4000-8000-000000000042', new Date(ago(30)), END, 'day'),
      ],
    ];
    const lines = [];
    for (const [name, fn] of queries) {
      await fn(); // warm the cache and the plan
      const times = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
      const p50 = percentile(times, 0.5);
      const p95 = percentile(times, 0.95);
      log(`analytics: ${name}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
      lines.push(`| ${name} | ${p50.toFixed(1)} | ${p95.toFixed(1)} |`);
    }
    // The same question without rollups, for scale: once, it takes seconds.
    let t = performance.now();
    await ds.query(
      `SELECT provider, count(*), sum(cost_usd), sum(prompt_tokens), sum(completion_tokens),
              percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
         FROM usage_records WHERE created_at >= $1 AND created_at < $2 GROUP BY 1`,
      [ago(30), to],
    );
    const directMs = performance.now() - t;
    log(`analytics: direct aggregate over usage_records, 30 days by provider: ${directMs.toFixed(0)} ms`);
    const seeding =
      seededS === null
        ? `reused (seeded earlier in ${Number(first.seeded_s).toFixed(0)} s, rollups built in ${Number(first.rollup_s).toFixed(0)} s)`
        : `seeded now in ${seededS.toFixed(0)} s, rollups built in ${rollupS.toFixed(0)} s`;
    return [
      `${rows.toLocaleString('en-US')} usage rows over ${DAYS} days (${USERS} users, ${KEYS} keys, ${DEPLOYMENTS.length} deployments, 2 % errors, ` +
        `10 % cache hits), schema \`${schema}\` ${seeding}; rollups per user: ${Number(counts.hourly).toLocaleString('en-US')} hourly ` +
        `and ${Number(counts.daily).toLocaleString('en-US')} daily rows, per deployment: ` +
        `${Number(counts.deployment_hourly).toLocaleString('en-US')} hourly and ` +
        `${Number(counts.deployment_daily).toLocaleString('en-US')} daily. Each query through AnalyticsService / UsageReportStore ` +
        `(dist), "now" = ${to} (not on an hour, so every range also reads raw records at its edges); ${runs} runs after one warm-up.`,
      '',
      '| query | p50 ms | p95 ms |',
      '|---|---:|---:|',
      ...lines,
      '',
      `Without rollups, the same 30-day by-provider question straight from usage_records (with an exact p95) took ${directMs.toFixed(0)} ms.`,
    ].join('\n');
  } finally {
    await ds.destroy();
  }
}

export const analyticsBench = {
  id: 'analytics',
  title: 'Usage analytics over a big usage table',
  flags: [
    {
      name: '--analytics-rows',
      value: 'N',
      help: `usage rows to seed for the analytics extra (default ${DEFAULT_ROWS})`,
    },
    { name: '--analytics-runs', value: 'N', help: `timed runs per analytics query (default ${DEFAULT_RUNS})` },
  ],
  enabled: (opts) => !opts.standIn,
  run: ({ opts, log }) =>
    runAnalyticsBench({
      rows: Number(opts.extra['--analytics-rows'] ?? DEFAULT_ROWS),
      runs: Number(opts.extra['--analytics-runs'] ?? DEFAULT_RUNS),
      log,
    }),
};

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i === -1 ? fallback : Number(process.argv[i + 1]);
  };
  const body = await runAnalyticsBench({
    rows: arg('--analytics-rows', DEFAULT_ROWS),
    runs: arg('--analytics-runs', DEFAULT_RUNS),
  });
  process.stdout.write(`${body}\n`);
}
