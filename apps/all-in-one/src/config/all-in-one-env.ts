import { toBool } from '@aigw/platform';
import { Transform } from 'class-transformer';
import { IsBoolean } from 'class-validator';

/**
 * What only the single-process deployment reads (ADR 0010). Every other variable means what it means for the app
 * that reads it: the api-gateway's, router-worker's and health-monitor's own schemas validate the same environment.
 */
export class AllInOneEnv {
  /** Also host the health-monitor (scheduled probes, connection tests, alerts, model discovery). */
  @Transform(toBool)
  @IsBoolean()
  ALL_IN_ONE_MONITOR = false;
}
