import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import {
  AdapterRegistry,
  HttpPool,
  probeProviderOf,
  probeRoute,
  suggestRoute,
  type ProbeProvider,
  type RouteProbe,
} from '@aigw/adapters';
import {
  connectionTestKeyOf,
  type ConnectionTestResult,
  type HealthProbeRequest,
  type GatewaySpec,
  type HealthProbeRefusal,
  type HealthProbeReply,
  type RouteCheck,
  type RoutingMethod,
} from '@aigw/core';
import { databaseUnavailable, describeDatabaseError } from '@aigw/entities';
import { CatalogService, ENV, REDIS, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';
import { readHealthProbeRequest } from './health-probe-request';

/** How often a replica that lost the claim on a test looks for the winner's result (only while it waits). */
const RESULT_POLL_MS = 100;
/** How long a test's result stays in Redis for the replicas that lost its claim. */
const RESULT_KEEP_MS = 60_000;

/** A provider with the routing that decides which routes a probe takes. */
export interface ProbeSubject {
  provider: ProbeProvider;
  routing: RoutingMethod;
  /** The provider's gateway, when it has one (required for `gateway`; `auto` without one probes direct only). */
  gateway?: GatewaySpec;
}

function refuse(reason: HealthProbeRefusal, message: string, param?: string): HealthProbeReply {
  return param === undefined ? { ok: false, reason, message } : { ok: false, reason, message, param };
}

/** The contract's route result: the error class stays inside the monitor. */
function routeCheck({
  errorClass: _errorClass,
  unservedModels: _unserved,
  modelsChecked: _checked,
  ...check
}: RouteProbe): RouteCheck {
  return check;
}

/**
 * The on-demand connection test (`health.probe`): probes a saved provider (read fresh from the database, so a
 * change saved a moment ago is what gets tested) or unsaved settings on the routes its routing uses, and says
 * when the gateway would work where direct does not. `probeRoutes` is the same probe for scheduled checks.
 */
@Injectable()
export class ConnectionTestService implements OnApplicationShutdown {
  private readonly logger = new Logger(ConnectionTestService.name);
  private readonly pool: HttpPool;
  private readonly adapters: AdapterRegistry;
  private seq = 0;

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly catalog: CatalogService,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    // Sockets of on-demand tests are closed after each test; short keep-alive for the rest.
    this.pool = new HttpPool({ keepAliveTimeoutMs: 2_000, allowLinkLocal: env.PROVIDER_ALLOW_LINK_LOCAL });
    this.adapters = new AdapterRegistry(this.pool);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.destroy();
  }

  /**
   * Answers one `health.probe` message. Never rejects for a failing provider: that is a result. Every replica hears
   * the message: with a `testId`, the replica that claims it in Redis (`SET NX`) runs the test and leaves the reply
   * there, and the others answer with that reply (polling for it), so the provider is probed once per test (a
   * `probe: completion` provider is billed once). Redis unreachable, or the claimer gone: this replica tests too.
   */
  async handle(message: unknown): Promise<HealthProbeReply> {
    const request = readHealthProbeRequest(message);
    if (typeof request === 'string') {
      return refuse('invalid_request', request);
    }
    if (request.testId === undefined) {
      return this.test(request);
    }
    const key = this.keys.key('health', 'test', request.testId);
    // The longest a test takes: its routes run concurrently, each within PROBE_TIMEOUT_MS; plus the catalog read.
    const waitMs = this.env.PROBE_TIMEOUT_MS + 5_000;
    const claimed = await this.redis
      .set(key, '', 'PX', waitMs, 'NX')
      .then((ok) => ok === 'OK')
      .catch(() => true);
    if (!claimed) {
      const reply = await this.replyOf(key, Date.now() + waitMs);
      if (reply !== undefined) {
        return reply;
      }
    }
    const reply = await this.test(request);
    await this.redis.set(key, JSON.stringify(reply), 'PX', RESULT_KEEP_MS).catch(() => undefined);
    return reply;
  }

  /** The reply the replica that claimed the test left in Redis; undefined when none came by `deadline`. */
  private async replyOf(key: string, deadline: number): Promise<HealthProbeReply | undefined> {
    while (Date.now() < deadline) {
      const value = await this.redis.get(key).catch(() => null);
      if (value === null) {
        // The claim expired without a result (its replica died): test here.
        return undefined;
      }
      if (value !== '') {
        return JSON.parse(value) as HealthProbeReply;
      }
      await new Promise((resolve) => setTimeout(resolve, RESULT_POLL_MS));
    }
    return undefined;
  }

  private async test(request: HealthProbeRequest): Promise<HealthProbeReply> {
    await this.catalog.reload().catch((err: unknown) => {
      if (!databaseUnavailable(err)) {
        throw err;
      }
      // PostgreSQL down: nothing can be saved meanwhile, so the catalog last read (the one every process serves
      // with) is what to test; the provider's answer is what the admin asked about.
      this.logger.warn(`connection test with the catalog last read: ${describeDatabaseError(err)}`);
    });
    const gateways = this.catalog.current.gateways;
    let subject: ProbeSubject;
    let providerId: string | null;
    let gatewayId: string | undefined;
    if ('providerId' in request) {
      const saved = this.catalog.provider(request.providerId);
      if (saved === undefined) {
        return refuse('provider_not_found', `No provider '${request.providerId}'.`);
      }
      providerId = saved.id;
      gatewayId = saved.gateway;
      subject = { provider: probeProviderOf(saved), routing: saved.routing };
    } else {
      const { provider: s } = request;
      providerId = null;
      gatewayId = s.gatewayId;
      let apiKey = s.apiKey;
      if (s.sealedApiKey !== undefined) {
        const opened = this.openKey(s.sealedApiKey, s.baseUrl, request.testId);
        if (typeof opened !== 'string') {
          return opened;
        }
        apiKey = opened;
      }
      if (s.apiKeyFromGateway !== undefined) {
        const keeper = gateways.find((g) => g.id === s.apiKeyFromGateway);
        if (keeper === undefined) {
          return refuse('gateway_not_found', `No gateway '${s.apiKeyFromGateway}'.`, 'apiKeyFromGateway');
        }
        apiKey = keeper.apiKey;
      } else if (s.apiKeyFromProvider !== undefined) {
        const keeper = this.catalog.provider(s.apiKeyFromProvider);
        if (keeper === undefined) {
          return refuse('provider_not_found', `No provider '${s.apiKeyFromProvider}'.`, 'providerId');
        }
        apiKey = keeper.apiKey;
      }
      subject = {
        provider: {
          id: 'unsaved',
          kind: s.kind,
          baseUrl: s.baseUrl,
          ...(apiKey === undefined ? {} : { apiKey }),
          ...(s.plugin === undefined ? {} : { plugin: s.plugin }),
          ...(s.healthPath === undefined ? {} : { healthPath: s.healthPath }),
          ...(s.probe === undefined ? {} : { probe: s.probe }),
          models: s.models ?? [],
        },
        routing: s.routing,
      };
    }
    if (gatewayId !== undefined) {
      const gateway = gateways.find((g) => g.id === gatewayId);
      if (gateway === undefined) {
        return refuse('gateway_not_found', `No gateway '${gatewayId}'.`);
      }
      subject.gateway = gateway;
    }
    if (subject.routing === 'gateway' && subject.gateway === undefined) {
      return refuse('invalid_request', "Routing 'gateway' needs a gatewayId.");
    }
    const poolKey = `test-${++this.seq}`;
    try {
      const routes = await this.probeRoutes(subject, { poolKey });
      const result: ConnectionTestResult = { providerId, routes: routes.map(routeCheck) };
      const suggestion = suggestRoute(
        { id: providerId ?? 'unsaved', routing: subject.routing, ...(gatewayId === undefined ? {} : { gatewayId }) },
        routes,
      );
      if (suggestion !== undefined) {
        result.suggestion = suggestion;
      }
      return { ok: true, result };
    } finally {
      // A one-off test leaves no sockets behind (an unsaved provider may never be tested again).
      await this.pool.closePoolKey(poolKey);
    }
  }

  /**
   * The key a form's test sent sealed (`sealedApiKey`), opened under SECRETS_KEY or SECRETS_KEY_PREVIOUS; a refusal
   * naming `apiKey` when it opens under neither (this process's keys differ from the api-gateway's: mid-rollout of a
   * new SECRETS_KEY, as for a stored key) or was sealed for another URL or test.
   */
  private openKey(sealed: string, baseUrl: string, testId: string | undefined): string | HealthProbeReply {
    let plaintext: string;
    try {
      plaintext = this.catalog.secrets.decrypt(sealed);
    } catch {
      return refuse(
        'sealed_key_unreadable',
        "The health monitor cannot decrypt the 'apiKey' the api-gateway sent: give it the api-gateway's SECRETS_KEY " +
          '(during a rotation, the old key in SECRETS_KEY_PREVIOUS).',
        'apiKey',
      );
    }
    return (
      connectionTestKeyOf(plaintext, baseUrl, testId) ??
      refuse('invalid_request', "The sealed 'apiKey' was not sealed for this test.", 'apiKey')
    );
  }

  /**
   * Probes the routes a provider's routing uses, concurrently: `direct`, `gateway`, or both (direct first) for
   * `auto` (direct only when it has no gateway). Never rejects.
   */
  probeRoutes(subject: ProbeSubject, opts: { timeoutMs?: number; poolKey?: string } = {}): Promise<RouteProbe[]> {
    const timeoutMs = opts.timeoutMs ?? this.env.PROBE_TIMEOUT_MS;
    const common = {
      adapters: this.adapters,
      provider: subject.provider,
      timeoutMs,
      ...(opts.poolKey === undefined ? {} : { poolKey: opts.poolKey }),
    };
    const direct = (): Promise<RouteProbe> => probeRoute({ ...common, route: 'direct' });
    const viaGateway = (gateway: GatewaySpec): Promise<RouteProbe> =>
      probeRoute({ ...common, route: 'gateway', gateway });
    const { gateway } = subject;
    switch (subject.routing) {
      case 'direct':
        return Promise.all([direct()]);
      case 'gateway':
        return gateway === undefined ? Promise.resolve([]) : Promise.all([viaGateway(gateway)]);
      case 'auto':
        return Promise.all(gateway === undefined ? [direct()] : [direct(), viaGateway(gateway)]);
    }
  }
}
