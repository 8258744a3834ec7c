import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsUrl, Max, Min } from 'class-validator';
import { BaseEnv, IsListenHost, toBool } from '@aigw/platform';

/** The health-monitor's environment, validated once at boot (see `loadEnvOrExit`). */
export class MonitorEnv extends BaseEnv {
  /** Port of the ops server (`/health/*`, `/metrics`); 0 picks a free one. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65_535)
  PORT = 3002;

  @IsListenHost()
  HOST = '127.0.0.1';

  /**
   * Each route of an on-demand connection test, and of a scheduled probe (the provider's own timeoutMs when
   * shorter), must answer within this (connect, headers and body).
   */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(120_000)
  PROBE_TIMEOUT_MS = 10_000;

  /**
   * Scheduled probes, discovery and retention. `false` leaves this replica to on-demand connection tests only (it
   * neither changes the schedules nor takes their jobs; the test harness uses it to keep simulator counts exact).
   */
  @Transform(toBool)
  @IsBoolean()
  HEALTH_PROBES_ENABLED = true;

  /** Seconds between probes of a provider without its own `healthIntervalS` (and of each gateway). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86_400)
  HEALTH_INTERVAL_S = 300;

  /** Consecutive failed probes that make a provider `failing`. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  HEALTH_FAILURE_THRESHOLD = 3;

  /** Probe history older than this is deleted (daily). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(3650)
  HEALTH_RETENTION_DAYS = 30;

  /** A working probe slower than this makes a provider `degraded`. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  HEALTH_SLOW_MS = 5000;

  /** Probes looked back on: one failure among them keeps a working provider `degraded`. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  HEALTH_WINDOW = 10;

  /** Seconds between refreshes of each provider's model list (model discovery). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(604_800)
  HEALTH_DISCOVERY_INTERVAL_S = 3600;

  /** Probes run at once by this process. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(256)
  HEALTH_CONCURRENCY = 8;

  /** Where each alert (a provider turning failing, or recovering) is POSTed as JSON; unset: log and metrics only. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  ALERT_WEBHOOK_URL?: string;
}
