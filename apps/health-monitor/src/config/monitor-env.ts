import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsString, Max, Min } from 'class-validator';
import { BaseEnv } from '@aigw/platform';

/** The health-monitor's environment, validated once at boot (see `loadEnvOrExit`). */
export class MonitorEnv extends BaseEnv {
  /** Port of the ops server (`/health/*`, `/metrics`); 0 picks a free one. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65_535)
  PORT = 3002;

  @IsString()
  @IsNotEmpty()
  HOST = '127.0.0.1';

  /** Each route of an on-demand connection test must answer within this (connect, headers and body). */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(120_000)
  PROBE_TIMEOUT_MS = 10_000;
}
