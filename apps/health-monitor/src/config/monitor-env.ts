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
}
