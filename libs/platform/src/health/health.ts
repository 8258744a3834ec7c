import { Controller, Get, Inject, Injectable, Logger, Module, type INestApplicationContext } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { describeError } from '../http/errors';
import { waitAtMost } from '../lifecycle/wait-at-most';
import { REDIS } from '../redis/redis';

const CHECK_TIMEOUT_MS = 1500;

/**
 * How long a readiness run's result answers `/health/ready`, counted from when the run began: every kubelet probes
 * every pod each few seconds and load balancers probe too, and a burst of probes (a scrape storm, a rollout) that
 * is not quite simultaneous would otherwise run the checks again for each caller that comes just after the last run
 * ended. An outage (and a recovery) shows at most this late, which no probe period comes near.
 */
export const READY_RESULT_TTL_MS = 1000;

/**
 * A readiness check's reason for being down that may be shown as it is: `/health/ready` is open without a key (on
 * the api-gateway's public port too), so any other error (pg's `connect ECONNREFUSED <host>:<port>`, `password
 * authentication failed for user ...`, `relation "<schema>.migrations" does not exist`, ioredis's option names)
 * answers as `unavailable` and its message goes to the log only.
 */
export class ReadinessProblem extends Error {}

/** What a failed check's `message` says on the route. */
const UNAVAILABLE = 'unavailable';

/**
 * Terminus's decorator documents the route by requiring `@nestjs/swagger` when it is installed: in the router-worker
 * and the health-monitor, which serve no OpenAPI document, that was 2.5 MB of heap for nothing. The api-gateway
 * documents these two routes itself (`buildOpenApiDocument`).
 */
const UNDOCUMENTED_HEALTH_CHECK = { noCache: true, swaggerDocumentation: false };

async function withTimeout(p: Promise<unknown>, what: string): Promise<void> {
  const answered = await waitAtMost(
    p.then(() => true),
    CHECK_TIMEOUT_MS,
  );
  if (answered === undefined) {
    throw new ReadinessProblem(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`);
  }
}

/**
 * Readiness checks beyond this app's own Redis and PostgreSQL: in a process hosting several apps (ADR 0010), the
 * serving app's `/health/ready` also says whether the others are ready. A check resolves when ready and rejects
 * with the reason otherwise.
 */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, () => Promise<unknown>>();

  add(key: string, check: () => Promise<unknown>): void {
    if (this.checks.has(key)) {
      throw new Error(`readiness check ${key} is already registered`);
    }
    this.checks.set(key, check);
  }

  entries(): [string, () => Promise<unknown>][] {
    return [...this.checks];
  }
}

/**
 * A readiness check of another app of this process (ADR 0010): its own Redis connection and PostgreSQL pool answer,
 * what its `/health/ready` checks when it runs alone.
 */
export function dependenciesOf(app: INestApplicationContext): () => Promise<void> {
  const redis = app.get<Redis>(REDIS, { strict: false });
  const db = app.get(DataSource, { strict: false });
  const probe = schemaProbeOf(db);
  return async () => {
    await redis.ping();
    await db.query(probe);
  };
}

/**
 * The database check reads the schema's migrations table, not `SELECT 1`: a dropped schema (or a wrong
 * DATABASE_SCHEMA) is not ready, though the server answers.
 */
function schemaProbeOf(db: DataSource): string {
  const options = db.options as { schema?: string; migrationsTableName?: string };
  const table = `"${options.migrationsTableName ?? 'migrations'}"`;
  return `SELECT 1 FROM ${options.schema === undefined ? table : `"${options.schema}".${table}`} LIMIT 1`;
}

@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');
  private readonly schemaProbe: string;
  /**
   * Each check that is down: the reason last logged (one line per outage and change of reason, not per probe), and
   * when the outage was first logged, which the line saying it is back names.
   */
  private readonly loggedDown = new Map<string, { reason: string; since: Date }>();
  /**
   * The last readiness run: shared by the callers that come while it runs and, once it has settled, by those that
   * come until `until` (READY_RESULT_TTL_MS after it began).
   */
  private last: { result: Promise<HealthCheckResult>; until: number } | null = null;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly db: DataSource,
    private readonly more: ReadinessChecks,
  ) {
    this.schemaProbe = schemaProbeOf(db);
  }

  /** Liveness: the event loop answers. Never depends on Redis or PostgreSQL (a restart would not fix them). */
  @Get('live')
  @HealthCheck(UNDOCUMENTED_HEALTH_CHECK)
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  /**
   * Readiness: the dependencies this process needs to do its work answer. The route is open without a key: callers
   * at the same time share one run of the checks, and so do those of the next READY_RESULT_TTL_MS, so a burst of
   * them cannot pile up queries and pings (each up to its timeout when a dependency hangs). Costs one clock read per
   * call.
   */
  @Get('ready')
  @HealthCheck(UNDOCUMENTED_HEALTH_CHECK)
  ready(): Promise<HealthCheckResult> {
    const now = performance.now();
    if (this.last === null || now >= this.last.until) {
      const run = { result: this.checkReady(), until: Infinity };
      const settled = (): void => {
        run.until = now + READY_RESULT_TTL_MS;
      };
      // The callers handle a rejection (a check down); this branch only dates the result.
      run.result.then(settled, settled);
      this.last = run;
    }
    return this.last.result;
  }

  private checkReady(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.ping('redis', () => this.redis.ping()),
      () => this.ping('database', () => this.db.query(this.schemaProbe)),
      ...this.more.entries().map(
        ([key, check]) =>
          () =>
            this.ping(key, check),
      ),
    ]);
  }

  private async ping(key: string, fn: () => Promise<unknown>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    try {
      await withTimeout(fn(), key);
      const outage = this.loggedDown.get(key);
      if (outage !== undefined) {
        // Once per outage, at the first probe that passes: without it the last word in the log was that PostgreSQL (or
        // Redis) was down, and an operator could not tell an outage that ended from one still going on. At the level
        // of the line it closes: LOG_LEVEL=warn showed the outage and hid its end.
        this.loggedDown.delete(key);
        this.logger.warn(`readiness check ${key} is back up (down since ${outage.since.toISOString()})`);
      }
      return indicator.up({ latencyMs: Math.round((performance.now() - started) * 10) / 10 });
    } catch (err) {
      const reason = describeError(err);
      const outage = this.loggedDown.get(key);
      if (outage?.reason !== reason) {
        this.loggedDown.set(key, { reason, since: outage?.since ?? new Date() });
        this.logger.warn(`readiness check ${key} is down: ${reason}`);
      }
      return indicator.down({ message: err instanceof ReadinessProblem ? err.message : UNAVAILABLE });
    }
  }
}

/** `/health/live` and `/health/ready` for every app. Needs the Redis and database modules. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false, errorLogStyle: 'pretty' })],
  controllers: [HealthController],
  providers: [ReadinessChecks],
  exports: [ReadinessChecks],
})
export class HealthModule {}
