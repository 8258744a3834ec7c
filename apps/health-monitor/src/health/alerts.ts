import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HealthJobName, type HealthAlert, type SendAlertJobData } from '@aigw/core';
import { healthAlertOf, ProviderHealthStore, type HealthSubject, type RecordedHealth } from '@aigw/entities';
import { describeError, ENV, REDIS, RedisKeys } from '@aigw/platform';
import { DelayedError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';
import { HealthQueue, type HealthJob } from './health-queue';
import { MonitorMetrics } from './monitor-metrics';

/** Deliveries are retried this many times, 1 s, 2 s, 4 s ... apart (about 4 minutes in all). */
const WEBHOOK_ATTEMPTS = 8;
/**
 * How long an undelivered alert holds back the newer alerts of its subject: well past its last retry (about 2 minutes
 * of backoff and 8 timeouts of ALERT_WEBHOOK_TIMEOUT_MS, 10 s by default), with room for a busy queue. An older alert
 * is then delivered out of order.
 */
const ORDER_HOLD_MS = 15 * 60_000;
/** How soon a delivery held back behind an older alert of its subject looks again. */
const ORDER_RECHECK_MS = 1_000;
/** Outbox rows the relay queues per run (the next run takes the rest). */
const RELAY_BATCH = 500;

/** The metric label of a subject: a provider id, or `gateway:<id>`. */
export function subjectLabel(subject: HealthSubject): string {
  return subject.kind === 'provider' ? subject.id : `gateway:${subject.id}`;
}

/** The webhook request: the URL without user info, whose credentials (`https://user:pass@host/...`) go as Basic auth. */
export function webhookRequest(raw: string): { url: string; headers: Record<string, string> } {
  const url = new URL(raw);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'aigw-health-monitor' };
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  return { url: url.href, headers };
}

/** An error's description without the webhook URL or its credentials (a path may hold a token, as Slack's do). */
function withoutUrl(description: string, raw: string): string {
  const url = new URL(raw);
  const secrets = [raw, url.href, url.pathname.length > 1 ? url.pathname : '', url.search, url.password];
  let out = description;
  for (const s of secrets) {
    if (s.length >= 4) {
      out = out.split(s).join('[redacted]');
    }
  }
  return out;
}

/**
 * A subject turning `failing`, or recovering: one structured log line, `aigw_provider_alerts_total`, and a JSON
 * POST to ALERT_WEBHOOK_URL. Only the probe whose locked status update saw the transition gets here (see
 * ProviderHealthStore.recordProbe), so there is one alert per transition whatever the number of replicas.
 *
 * Delivery is at least once: the alert is written to an outbox (PostgreSQL) in the transaction of the status update
 * that decided it, then queued as a BullMQ job on the health-alerts queue (id `alert-<alertId>`: added once) and
 * retried with backoff; the outbox row goes once the delivery ends (delivered, or given up after its last attempt).
 * A monitor that dies (or loses Redis) between the status update and the job leaves the row, and the relay job
 * (HealthJobName.RelayAlerts, every minute) queues it again. Every POST of one alert carries its `alertId`, in the body
 * and as the `Idempotency-Key` header, for the receiver to drop the rare duplicate (a delivery whose outbox row
 * could not be deleted is sent again by the relay).
 *
 * The alerts of one subject reach the webhook in the order of their transitions: a sorted set per subject
 * (`health:alert-order:<kind>:<id>`, scored by the transition's time) holds the undelivered ones, and a delivery
 * waits while an older one is in it. An alert still in the outbox (its monitor died before queueing it) is queued
 * ahead of the next alert of its subject, not left to the relay, which would send it after that newer one.
 */
@Injectable()
export class Alerts {
  private readonly logger = new Logger('HealthAlert');
  /** ORDER_HOLD_MS, or longer when ALERT_WEBHOOK_TIMEOUT_MS makes the retries last longer. */
  private readonly orderHoldMs: number;

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly queue: HealthQueue,
    private readonly metrics: MonitorMetrics,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly store: ProviderHealthStore,
  ) {
    this.orderHoldMs = Math.max(ORDER_HOLD_MS, WEBHOOK_ATTEMPTS * env.ALERT_WEBHOOK_TIMEOUT_MS + 5 * 60_000);
  }

  private orderKey(alert: Pick<HealthAlert, 'subject' | 'id'>): string {
    return this.keys.key('health', 'alert-order', alert.subject, alert.id);
  }

  /**
   * Raises the alert a recorded probe decided, if any, and queues its delivery. `health.alertId`: the alert is in the
   * outbox, so a failure to queue it is only logged (the relay queues it).
   */
  async onRecorded(subject: HealthSubject, health: RecordedHealth, at: Date): Promise<void> {
    const decided = healthAlertOf(subject, { ...health, recordedAt: at });
    if (decided === null) {
      return;
    }
    const alert: HealthAlert = { ...decided, alertId: health.alertId ?? randomUUID() };
    this.metrics.alerted(subjectLabel(subject), alert.kind);
    this.logger.warn(`health_alert ${JSON.stringify(alert)}`);
    if (this.env.ALERT_WEBHOOK_URL === undefined) {
      return;
    }
    try {
      if (health.alertId !== undefined) {
        // An older alert of the subject its monitor decided but never queued (it died before it could) goes first:
        // queued only by the relay, it would otherwise reach the webhook after this newer one. Its transition was
        // committed before this one (the subject's row lock), so this read sees it. One query per transition.
        for (const older of await this.store.pendingAlertsOf(subject, health.alertId)) {
          if (Date.parse(older.at) <= Date.parse(alert.at)) {
            await this.requeue(older);
          }
        }
      }
      await this.enqueue(alert);
    } catch (err) {
      if (health.alertId === undefined) {
        throw err;
      }
      this.logger.warn(`alert ${alert.alertId} not queued yet (the relay queues it): ${describeError(err)}`);
    }
  }

  /** Queues every alert still in the outbox (a monitor died before it queued one); one already queued is left as it is. */
  async relay(): Promise<void> {
    const pending = await this.store.pendingAlerts(RELAY_BATCH);
    // Oldest transition first: one is in its subject's order set before a newer one of that subject is queued.
    pending.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    for (const alert of pending) {
      await this.requeue(alert);
    }
    if (pending.length > 0) {
      this.logger.debug(`relay: ${pending.length} undelivered alerts queued (or already queued)`);
    }
  }

  /**
   * Queues an alert found in the outbox again, unless its delivery already ended: a job given up (its last attempt
   * failed) while its row could not be deleted (PostgreSQL away) stays `failed` under its id, so adding it again was a
   * no-op and the row stayed for good (re-entering the subject's order set at every relay). Its row goes now.
   */
  private async requeue(alert: HealthAlert): Promise<void> {
    const jobId = `alert-${alert.alertId ?? randomUUID()}`;
    if ((await this.queue.alerts.getJobState(jobId)) === 'failed') {
      await this.done(alert);
      await this.redis.zrem(this.orderKey(alert), jobId).catch(() => undefined);
      return;
    }
    await this.enqueue(alert);
  }

  /** Adds the delivery job of an alert with its `alertId` (a no-op while that job exists). */
  private async enqueue(alert: HealthAlert): Promise<void> {
    const jobId = `alert-${alert.alertId ?? randomUUID()}`;
    const order = this.orderKey(alert);
    const at = Date.parse(alert.at);
    // In the order set before the job exists, so no newer alert of the subject can overtake it.
    await this.redis.multi().zadd(order, at, jobId).pexpire(order, this.orderHoldMs).exec();
    const data: SendAlertJobData = { alert };
    try {
      await this.queue.alerts.add(HealthJobName.SendAlert, data, {
        jobId,
        attempts: WEBHOOK_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: 1000,
      });
    } catch (err) {
      await this.redis.zrem(order, jobId).catch(() => undefined);
      throw err;
    }
  }

  /**
   * One delivery attempt; a rejection makes BullMQ retry it later. Held back (delayed, no attempt spent) while an
   * older alert of the same subject is undelivered. ALERT_WEBHOOK_URL unset since the alert was raised: dropped.
   */
  async deliver(job: HealthJob, token?: string): Promise<void> {
    const { alert } = job.data as SendAlertJobData;
    const order = this.orderKey(alert);
    const raw = this.env.ALERT_WEBHOOK_URL;
    if (raw === undefined) {
      await this.done(alert);
      await this.release(order, job);
      return;
    }
    if (token !== undefined && job.id !== undefined && (await this.olderPending(order, alert))) {
      await job.moveToDelayed(Date.now() + ORDER_RECHECK_MS, token);
      throw new DelayedError();
    }
    const { url, headers } = webhookRequest(raw);
    if (alert.alertId !== undefined) {
      headers['idempotency-key'] = alert.alertId;
    }
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(alert),
          signal: AbortSignal.timeout(this.env.ALERT_WEBHOOK_TIMEOUT_MS),
          // A followed 301/302/303 turns the POST into a GET without the alert, which a 2xx then took as delivered
          // (and a redirect elsewhere drops the Basic auth): a redirect is a failed attempt, the URL is to be fixed.
          redirect: 'manual',
        });
      } catch (err) {
        throw new Error(`alert webhook unreachable: ${withoutUrl(describeError(err), raw)}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 300 && res.status < 400) {
        throw new Error(
          `alert webhook answered HTTP ${res.status} (a redirect, not followed: set ALERT_WEBHOOK_URL to where it points)`,
        );
      }
      if (!res.ok) {
        throw new Error(`alert webhook answered HTTP ${res.status}`);
      }
    } catch (err) {
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        // The last attempt: given up, and the newer alerts of the subject go on without this one.
        await this.done(alert);
        await this.release(order, job);
      }
      throw err;
    }
    // Out of the outbox before the job completes (and is removed): the relay does not send it again.
    await this.done(alert);
    await this.release(order, job);
  }

  /** The alert's delivery ended: out of the outbox. A failure is logged: the relay sends it again (same alertId). */
  private async done(alert: HealthAlert): Promise<void> {
    if (alert.alertId === undefined) {
      return;
    }
    try {
      await this.store.alertDone(alert.alertId);
    } catch (err) {
      this.logger.warn(`alert ${alert.alertId} left in the outbox (it may be sent again): ${describeError(err)}`);
    }
  }

  /**
   * Whether an alert of the subject older than this one is still to be delivered. An entry whose job is gone or
   * finished and whose outbox row is gone is stale, and dropped: a relay that read the alert from the outbox while it
   * was being delivered re-adds its entry once the delivery left the set, its job add a no-op (the job still existed),
   * and nothing else would take it out before the hold (ORDER_HOLD_MS) ran out. An entry whose row is still there
   * (its job about to be added, or to be re-queued by the relay) holds, as does one that cannot be checked.
   */
  private async olderPending(order: string, alert: HealthAlert): Promise<boolean> {
    for (;;) {
      // One read: an alert older than orderHoldMs no longer holds the newer ones back (the bound skips it; release
      // and the key's expiry clear it), and the alert's own entry, scored at its own time, is past the exclusive end.
      const [older] = await this.redis.zrangebyscore(
        order,
        Date.now() - this.orderHoldMs,
        `(${Date.parse(alert.at)}`,
        'LIMIT',
        0,
        1,
      );
      if (older === undefined) {
        return false;
      }
      if (!(await this.stale(older))) {
        return true;
      }
      await this.redis.zrem(order, older);
    }
  }

  /** Whether an order-set entry (`alert-<alertId>`) names a delivery that ended: no live job, no outbox row. */
  private async stale(jobId: string): Promise<boolean> {
    const state = await this.queue.alerts.getJobState(jobId);
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') {
      return false;
    }
    try {
      return !(await this.store.alertPending(jobId.slice('alert-'.length)));
    } catch (err) {
      this.logger.debug(`alert order entry ${jobId} not checked (kept): ${describeError(err)}`);
      return false;
    }
  }

  private async release(order: string, job: HealthJob): Promise<void> {
    if (job.id !== undefined) {
      await this.redis.zrem(order, job.id).catch(() => undefined);
    }
  }
}
