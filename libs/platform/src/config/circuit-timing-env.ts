import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { DAY_MS } from '@aigw/core';
import { BaseEnv } from './base-env';

/**
 * The circuit timings both the workers (which open and probe circuits) and the gateways (whose models listing and
 * preferences API say whether an open circuit's deployment is `available`) must read alike.
 */
export class CircuitTimingEnv extends BaseEnv {
  /** How long an open circuit refuses calls before admitting probes. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(DAY_MS)
  CB_OPEN_MS = 60_000;

  /** Concurrent probe calls a half-open circuit admits (fleet-wide). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  CB_HALF_OPEN_PROBES = 1;
}
