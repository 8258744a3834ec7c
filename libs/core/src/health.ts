import type { Capability, ProviderKind } from './catalog';
import { PROVIDER_FAMILIES } from './provider-families';

/**
 * Provider health as the health monitor records it: the status, the routes a probe takes, the alert a status
 * change raises, and the capabilities guessed for a model a provider lists but the catalog does not.
 */

/**
 * `healthy`: the last probe worked, fast, with no failure in the recent window. `degraded`: it works but slowly
 * (over HEALTH_SLOW_MS) or intermittently (a failed probe in the recent window, or failures below the threshold).
 * `failing`: HEALTH_FAILURE_THRESHOLD consecutive failed probes, until HEALTH_RECOVERY_THRESHOLD consecutive working
 * ones. `unknown`: never probed.
 */
export type ProviderHealthStatus = 'unknown' | 'healthy' | 'degraded' | 'failing';
export const PROVIDER_HEALTH_STATUSES: readonly ProviderHealthStatus[] = ['unknown', 'healthy', 'degraded', 'failing'];

/** Value of the `aigw_provider_health` gauge: 0 unknown, 1 healthy, 2 degraded, 3 failing. */
export function healthGaugeValue(status: ProviderHealthStatus): number {
  switch (status) {
    case 'unknown':
      return 0;
    case 'healthy':
      return 1;
    case 'degraded':
      return 2;
    case 'failing':
      return 3;
  }
}

/**
 * What a probe went through: the provider's own base URL (`direct`), its gateway (`gateway`), or, for a gateway
 * (a LiteLLM proxy) itself, the proxy's own endpoint (`health`).
 */
export type HealthRoute = 'direct' | 'gateway' | 'health';
export const HEALTH_ROUTES: readonly HealthRoute[] = ['direct', 'gateway', 'health'];

/** A status change worth telling someone about: a subject turned `failing`, or stopped failing. */
export type HealthAlertKind = 'failing' | 'recovered';

export function alertKindOf(previous: ProviderHealthStatus, current: ProviderHealthStatus): HealthAlertKind | null {
  if (current === 'failing' && previous !== 'failing') {
    return 'failing';
  }
  if (previous === 'failing' && current !== 'failing') {
    return 'recovered';
  }
  return null;
}

/** The JSON body POSTed to ALERT_WEBHOOK_URL, once per transition. */
export interface HealthAlert {
  kind: HealthAlertKind;
  /** `provider` or `gateway` (a LiteLLM proxy the catalog routes providers through). */
  subject: 'provider' | 'gateway';
  id: string;
  previousStatus: ProviderHealthStatus;
  status: ProviderHealthStatus;
  consecutiveFailures: number;
  /** Secret-free description of the last failure; null on recovery. */
  lastError: string | null;
  /**
   * ISO time the transition was recorded, by PostgreSQL's clock (the status update that decided it): the alerts of a
   * subject are in the order of these times whichever monitor replica raised them.
   */
  at: string;
  /**
   * A UUID naming this alert (this transition): every delivery of it, a retry or a redelivery after a monitor died
   * mid-way, carries the same one, also as the `Idempotency-Key` header, so the receiver can drop duplicates.
   * Deliveries are at least once. Absent only from alerts queued by releases before it.
   */
  alertId?: string;
}

/**
 * Jobs of the health queue (QueueName.Health), run by the health monitor only; a separate enum from JobName, whose
 * jobs the router-worker must all handle.
 *
 * WARNING: these strings are persisted in Redis (job schedulers and their jobs). Renaming one strands them.
 */
export enum HealthJobName {
  ProbeProvider = 'probe-provider',
  ProbeGateway = 'probe-gateway',
  DiscoverModels = 'discover-models',
  PruneHistory = 'prune-health-history',
  /** Deletes usage past USAGE_*RETENTION_DAYS (a no-op while all three keep it for good). */
  PruneUsage = 'prune-usage',
  /** On the health-alerts queue (QueueName.HealthAlerts); older releases queued it on the health queue. */
  SendAlert = 'send-alert',
  /** Queues the delivery of every alert still in the outbox (decided, not yet delivered: a monitor died meanwhile). */
  RelayAlerts = 'relay-alerts',
}

/** A probe or model refresh of one provider (or of one gateway, for ProbeGateway). */
export interface HealthSubjectJobData {
  id: string;
  /**
   * On a probe's job scheduler (its template): the hash of the probe settings it was last written for, so that a
   * replica that starts after they changed (every monitor restarted meanwhile) still probes the subject at once.
   * Ignored by the job itself.
   */
  settings?: string;
}

/**
 * One alert to POST to ALERT_WEBHOOK_URL (retried with backoff by BullMQ). The URL is read when the delivery runs,
 * never stored in the job: it may carry credentials, and a changed ALERT_WEBHOOK_URL applies to pending retries.
 * (Jobs queued by older versions also hold a `url`; it is ignored.)
 */
export interface SendAlertJobData {
  alert: HealthAlert;
}

export interface HealthJobMap {
  [HealthJobName.ProbeProvider]: HealthSubjectJobData;
  [HealthJobName.ProbeGateway]: HealthSubjectJobData;
  [HealthJobName.DiscoverModels]: HealthSubjectJobData;
  [HealthJobName.PruneHistory]: Record<string, never>;
  [HealthJobName.PruneUsage]: Record<string, never>;
  [HealthJobName.SendAlert]: SendAlertJobData;
  [HealthJobName.RelayAlerts]: Record<string, never>;
}

const EMBEDDING_NAME = /embed|bge-|e5-|gte-|minilm/i;
const VISION_NAME =
  /vision|-vl\b|vl-|gpt-4o|gpt-4\.1|gpt-5|claude-(3|sonnet|opus|haiku)|gemini|llava|pixtral|glm-4\.?\dv/i;
const NO_TOOLS_NAME = /instruct-v0\.1|davinci|babbage|tts|whisper|dall-e|moderation/i;

/**
 * Capabilities a model listed by a provider probably has, from its name and what the provider's wire format can
 * carry (PROVIDER_FAMILIES). A guess shown to the operator beside discovered models; nothing is enabled from it.
 */
export function detectCapabilities(kind: ProviderKind, model: string): Capability[] {
  const family = PROVIDER_FAMILIES[kind]?.capabilities ?? [];
  if (EMBEDDING_NAME.test(model)) {
    return family.includes('embeddings') ? ['embeddings'] : [];
  }
  const out: Capability[] = (['chat', 'streaming'] as const).filter((c) => family.includes(c));
  if (!NO_TOOLS_NAME.test(model)) {
    for (const c of ['tools', 'json'] as const) {
      if (family.includes(c)) {
        out.push(c);
      }
    }
  }
  if (VISION_NAME.test(model) && family.includes('vision')) {
    out.push('vision');
  }
  return out;
}
