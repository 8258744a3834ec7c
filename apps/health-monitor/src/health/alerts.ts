import { Inject, Injectable, Logger } from '@nestjs/common';
import { alertKindOf, HealthJobName, type HealthAlert, type SendAlertJobData } from '@aigw/core';
import type { HealthSubject, RecordedHealth } from '@aigw/entities';
import { describeError, ENV } from '@aigw/platform';
import type { MonitorEnv } from '../config/monitor-env';
import { HealthQueue } from './health-queue';
import { MonitorMetrics } from './monitor-metrics';

/** Deliveries are retried this many times, 1 s, 2 s, 4 s ... apart (about 4 minutes in all). */
const WEBHOOK_ATTEMPTS = 8;
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The metric label of a subject: a provider id, or `gateway:<id>`. */
export function subjectLabel(subject: HealthSubject): string {
  return subject.kind === 'provider' ? subject.id : `gateway:${subject.id}`;
}

/**
 * A subject turning `failing`, or recovering: one structured log line, `aigw_provider_alerts_total`, and a JSON
 * POST to ALERT_WEBHOOK_URL. Only the probe whose locked status update saw the transition gets here (see
 * ProviderHealthStore.recordProbe), so there is one alert per transition whatever the number of replicas; the
 * delivery is a BullMQ job with a deterministic id (added once) and retries with backoff.
 */
@Injectable()
export class Alerts {
  private readonly logger = new Logger('HealthAlert');

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly queue: HealthQueue,
    private readonly metrics: MonitorMetrics,
  ) {}

  async onRecorded(subject: HealthSubject, health: RecordedHealth, at: Date): Promise<void> {
    const kind = alertKindOf(health.previous, health.status);
    if (kind === null) {
      return;
    }
    const alert: HealthAlert = {
      kind,
      subject: subject.kind,
      id: subject.id,
      previousStatus: health.previous,
      status: health.status,
      consecutiveFailures: health.consecutiveFailures,
      lastError: kind === 'recovered' ? null : health.lastError,
      at: at.toISOString(),
    };
    const label = subjectLabel(subject);
    this.metrics.alerted(label, kind);
    this.logger.warn(`health_alert ${JSON.stringify(alert)}`);
    const url = this.env.ALERT_WEBHOOK_URL;
    if (url === undefined) {
      return;
    }
    const data: SendAlertJobData = { url, alert };
    await this.queue.queue.add(HealthJobName.SendAlert, data, {
      jobId: `alert-${subject.kind}-${subject.id}-${kind}-${at.getTime()}`,
      attempts: WEBHOOK_ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  /** One delivery attempt; a rejection makes BullMQ retry it later. */
  async deliver(data: SendAlertJobData): Promise<void> {
    let res: Response;
    try {
      res = await fetch(data.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'aigw-health-monitor' },
        body: JSON.stringify(data.alert),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
    } catch (err) {
      throw new Error(`alert webhook unreachable: ${describeError(err)}`, { cause: err });
    }
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) {
      throw new Error(`alert webhook answered HTTP ${res.status}`);
    }
  }
}
