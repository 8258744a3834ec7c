import { MigratedDatabase } from '../database/migrated-database';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  catalogFromEnv,
  deploymentsOf,
  ignoredProviderVariables,
  loadCatalogFile,
  resolveModelRef,
  type Catalog,
  type Deployment,
  type ProviderHealthStatus,
  type ProviderSpec,
} from '@aigw/core';
import { CatalogStore, SecretBox, type SeedSummary } from '@aigw/entities';
import { BaseEnv, ENV } from '../config/base-env';

/**
 * The provider catalog as this process sees it: seeded from PROVIDERS_FILE at boot (idempotent,
 * safe with many replicas), read from PostgreSQL, kept in memory and refreshed, so the request
 * path never touches the database.
 */
@Injectable()
export class CatalogService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(CatalogService.name);
  private readonly store: CatalogStore;
  /** SECRETS_KEY (and SECRETS_KEY_PREVIOUS) as this process reads and writes provider secrets with them. */
  readonly secrets: SecretBox;
  private catalog: Catalog = { providers: [], gateways: [] };
  private deploymentList: Deployment[] = [];
  private byId = new Map<string, Deployment>();
  private byModelName = new Map<string, Deployment[]>();
  private providerIds: ReadonlySet<string> = new Set();
  private failing: ReadonlySet<string> = new Set();
  private unserved: ReadonlySet<string> = new Set();
  private created: ReadonlyMap<string, number> = new Map();
  private timer?: NodeJS.Timeout;
  /** The reload running now, and whether another was asked for meanwhile (it then runs once after it). */
  private running: Promise<void> | null = null;
  private again = false;
  /** Epoch ms at which the read behind the catalog in force began (0: none applied yet). */
  private readStartedAt = 0;
  private readonly listeners: ((catalog: Catalog) => void | Promise<void>)[] = [];
  private readonly seedChecks: ((catalog: Catalog) => void)[] = [];

  constructor(
    @Inject(ENV) private readonly env: BaseEnv,
    db: MigratedDatabase,
  ) {
    const { box, usingDevelopmentKey } = SecretBox.fromEnv(env.SECRETS_KEY, env.NODE_ENV, env.SECRETS_KEY_PREVIOUS);
    if (usingDevelopmentKey) {
      this.logger.warn(
        'SECRETS_KEY is not set: provider secrets are encrypted with a development key. Set it in production.',
      );
    }
    this.secrets = box;
    this.store = new CatalogStore(db.dataSource, box);
  }

  /**
   * A check the catalog this process seeds at boot (PROVIDERS_FILE's, or the environment's) must pass before anything
   * is written; it throws naming the problem, which stops the boot. Registered from a constructor (every one runs before
   * this service's onModuleInit): an app that loads plugin modules checks they load, so a file naming a module that
   * cannot be found is refused as a whole instead of being seeded for every worker to fail on.
   */
  checkBeforeSeed(check: (catalog: Catalog) => void): void {
    this.seedChecks.push(check);
  }

  async onModuleInit(): Promise<void> {
    if (this.env.PROVIDERS_FILE) {
      // A provider or gateway at a link-local address stops the boot like any invalid entry (every call there would
      // be refused), unless PROVIDER_ALLOW_LINK_LOCAL, or it is stored so already (seeded by a release that did not
      // check, or by an app with the variable set): seeding it again changes nothing, and an api-gateway upgraded
      // without the variable (once read by the router-worker and health-monitor only) must still start.
      const file = loadCatalogFile(
        this.env.PROVIDERS_FILE,
        process.env,
        this.env.PROVIDER_ALLOW_LINK_LOCAL ? { allowLinkLocal: true } : { stored: await this.store.baseUrls() },
      );
      this.seedChecks.forEach((check) => check(file));
      const summary = await this.store.seed(file);
      this.logger.log(`seeded ${file.providers.length} providers from ${this.env.PROVIDERS_FILE}`);
      this.warnIgnored(summary, this.env.PROVIDERS_FILE);
    } else {
      // Zero-config: providers from their usual variables (OPENAI_API_KEY, OLLAMA_BASE_URL, ...); throws naming a bad one.
      const ignored = ignoredProviderVariables(process.env);
      if (ignored.length > 0) {
        this.logger.warn(`registering no provider for ${ignored.join(', ')}`);
      }
      const fromEnv = catalogFromEnv(process.env);
      if (fromEnv !== null) {
        const summary = await this.store.seed(fromEnv);
        this.logger.log(`registered providers from the environment: ${fromEnv.providers.map((p) => p.id).join(', ')}`);
        this.warnIgnored(summary, 'the environment');
      }
    }
    await this.reload();
    this.timer = setInterval(() => this.refresh('periodic'), this.env.CATALOG_RELOAD_S * 1000);
    this.timer.unref();
  }

  /**
   * One warning naming what the seed did not apply because an admin edited it since (`source: admin`): an operator who
   * rotated a key in the environment, or changed the file, otherwise learnt it only from the provider's 401s. Only
   * what the file changed since the row last agreed with it is named (SeedSummary `ignored`): the admin's own edits,
   * a provider disabled among them, are not news at every boot. A provider that is disabled is still named for what
   * the file changed (re-enabled, it would be called with the old key), saying it is disabled: nothing fails now.
   */
  private warnIgnored(summary: SeedSummary, from: string): void {
    const named = (kind: string, changes: SeedSummary['providers']['ignored']) =>
      changes.map(
        (c) => `${kind} '${c.id}' (${c.fields.join(', ')}${c.disabled ? '; disabled through the admin API' : ''})`,
      );
    const ignored = [...named('gateway', summary.gateways.ignored), ...named('provider', summary.providers.ignored)];
    if (ignored.length > 0) {
      this.logger.warn(
        `not applied from ${from}, edited through the admin API since (the stored settings stay): ` +
          `${ignored.join(', ')}; change them through the admin API or a config import`,
      );
    }
  }

  /** `reload` in the background (`why` names it in the log): a failure keeps the last catalog, the next one retries. */
  refresh(why: string): void {
    this.reload().catch((err: unknown) =>
      this.logger.warn(
        `catalog refresh (${why}) failed, keeping the last one: ${err instanceof Error ? err.message : 'error'}`,
      ),
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * Re-reads the catalog from PostgreSQL and swaps it in. Reloads never overlap: one asked for while another runs
   * starts after it (a change committed during the first read is then seen), and concurrent callers share it.
   * Resolves once a read that started after the call has been applied.
   */
  reload(): Promise<void> {
    if (this.running !== null) {
      // The loop below runs once more before `running` settles.
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          const startedAt = Date.now();
          const { catalog, health, created, unserved } = await this.store.loadWithHealth();
          this.apply(catalog, health, created, unserved);
          this.readStartedAt = startedAt;
          await this.notify();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /**
   * Epoch ms at which the read of the catalog in force began: a change committed before it is in it, one committed
   * after may not be (its `provider.changed` may still be on its way).
   */
  get readAt(): number {
    return this.readStartedAt;
  }

  /** Calls `listener` after every reload (the monitor reconciles its probe schedules there). */
  onReload(listener: (catalog: Catalog) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  private async notify(): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(this.catalog);
      } catch (err) {
        this.logger.warn(`a catalog listener failed: ${err instanceof Error ? err.message : 'error'}`);
      }
    }
  }

  /**
   * Replaces the in-memory catalog (also used by tests), with each provider's health status as the monitor last
   * recorded it (absent: unknown), when each deployment was created (epoch seconds by id; absent: unknown), and per
   * provider the models (by upstream name) its own model list lacked at the monitor's last probe (absent: none).
   * Synchronous, so no request sees half of it; a request that already picked its deployments keeps the objects of
   * the old catalog to the end.
   */
  apply(
    catalog: Catalog,
    health: ReadonlyMap<string, ProviderHealthStatus> = new Map(),
    created: ReadonlyMap<string, number> = new Map(),
    unserved: ReadonlyMap<string, readonly string[]> = new Map(),
  ): void {
    const list = deploymentsOf(catalog);
    const byModelName = new Map<string, Deployment[]>();
    for (const d of list) {
      const arr = byModelName.get(d.model.name);
      if (arr) {
        arr.push(d);
      } else {
        byModelName.set(d.model.name, [d]);
      }
    }
    this.catalog = catalog;
    this.deploymentList = list;
    this.byId = new Map(list.map((d) => [d.id, d]));
    this.byModelName = byModelName;
    this.providerIds = new Set(catalog.providers.map((p) => p.id));
    this.failing = new Set([...health].filter(([, status]) => status === 'failing').map(([id]) => id));
    this.unserved = new Set(
      list.filter((d) => unserved.get(d.provider.id)?.includes(d.model.upstreamName ?? d.model.name)).map((d) => d.id),
    );
    this.created = created;
  }

  /**
   * When the deployment's row was created in PostgreSQL (epoch seconds), as the last reload read it; undefined when
   * unknown (a catalog applied without it). Stable across replicas and restarts: what `GET /v1/models` shows.
   */
  createdAt(deploymentId: string): number | undefined {
    return this.created.get(deploymentId);
  }

  /** Providers the health monitor marked `failing` at the last reload: routing tries them last. */
  failingProviders(): ReadonlySet<string> {
    return this.failing;
  }

  /**
   * Deployments whose provider's own model list lacked the model at the monitor's last probe, as the last reload read
   * it (`unservedOf`): routing tries them after the others, the native listing says `model_unserved`.
   */
  unservedDeployments(): ReadonlySet<string> {
    return this.unserved;
  }

  get current(): Catalog {
    return this.catalog;
  }

  deployments(): readonly Deployment[] {
    return this.deploymentList;
  }

  provider(id: string): ProviderSpec | undefined {
    return this.catalog.providers.find((p) => p.id === id);
  }

  knownProviderIds(): ReadonlySet<string> {
    return this.providerIds;
  }

  /**
   * The deployment as this catalog has it, when it routes to it (it exists, and its provider and model are enabled);
   * undefined otherwise. A request that planned it under an earlier catalog asks before each call, and calls with
   * what this answers: a key rotated or a base URL corrected meanwhile is the one used. One map read.
   */
  routing(deploymentId: string): Deployment | undefined {
    const d = this.byId.get(deploymentId);
    return routable(d) ? d : undefined;
  }

  /** Enabled deployments a model string can reach, in catalog order (aliases are resolved by routing). */
  servingDeployments(modelRef: string): Deployment[] {
    const ref = resolveModelRef(modelRef, this.providerIds);
    const found =
      ref.provider === null ? (this.byModelName.get(ref.model) ?? []) : [this.byId.get(`${ref.provider}/${ref.model}`)];
    return found.filter(routable);
  }
}

/** Whether the catalog routes to `d`: it exists, and its provider and model are enabled. */
function routable(d: Deployment | undefined): d is Deployment {
  return d !== undefined && d.provider.enabled && d.model.enabled;
}
