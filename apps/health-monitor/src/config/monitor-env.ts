import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsUrl, Max, Min, ValidateBy } from 'class-validator';
import { BaseEnv, IsListenHost, toBool } from '@aigw/platform';

/**
 * Ports fetch refuses to connect to (the WHATWG Fetch standard's "bad ports"): a webhook on one of them would fail
 * every delivery with `fetch failed (cause: bad port)`.
 */
const FETCH_BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

function IsFetchablePort(): PropertyDecorator {
  return ValidateBy({
    name: 'isFetchablePort',
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' || !URL.canParse(value) || !FETCH_BAD_PORTS.has(Number(new URL(value).port)),
      defaultMessage: (args) =>
        `${args?.property ?? 'the URL'} uses a port fetch refuses to connect to (a Fetch standard "bad port"): pick another`,
    },
  });
}

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

  /**
   * Consecutive working probes a `failing` provider (or gateway) needs before it leaves `failing`: one lucky probe
   * of a flapping provider neither routes to it first again nor raises a `recovered` alert. 1: the first one does.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  HEALTH_RECOVERY_THRESHOLD = 2;

  /** Probe history older than this is deleted (daily). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(3650)
  HEALTH_RETENTION_DAYS = 30;

  /** A working probe slower than this makes a provider `degraded`; at most PROBE_TIMEOUT_MS's maximum. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(120_000)
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

  /** Probes (and discovery, pruning) run at once by this process; alert deliveries have slots of their own. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(256)
  HEALTH_CONCURRENCY = 8;

  /**
   * Alert deliveries run at once by this process, on a queue of their own (`health-alerts`): a slow or hanging
   * webhook takes these slots, never the probes'.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(256)
  ALERT_CONCURRENCY = 4;

  /** Each delivery attempt must be answered within this (connect, headers and body); then it is retried later. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(120_000)
  ALERT_WEBHOOK_TIMEOUT_MS = 10_000;

  /** Where each alert (a provider turning failing, or recovering) is POSTed as JSON; unset: log and metrics only. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  @IsFetchablePort()
  ALERT_WEBHOOK_URL?: string;
}
