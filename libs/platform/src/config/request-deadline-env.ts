import { HOUR_MS } from '@aigw/core';
import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { graceCovering } from '../lifecycle/shutdown';
import { CircuitTimingEnv } from './circuit-timing-env';

/**
 * The request deadline, read alike by the apps that hold requests: the api-gateway (which answers 504 past it) and the
 * router-worker (whose sync jobs run to it). Each app's SHUTDOWN_GRACE_MS defaults to a grace whose drain outlasts it
 * (`graceCovering`): with the bare 25 s a gateway or worker stopped with its defaults cut every generation running past
 * ~23 s of a 120 s deadline with a 503 (a stream: an error event mid-answer). A grace given explicitly is kept.
 */
export class RequestDeadlineEnv extends CircuitTimingEnv {
  /** Deadline of a sync or streamed request; 504 past it and the provider call is cancelled. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(HOUR_MS)
  REQUEST_TIMEOUT_MS = 120_000;

  constructor() {
    super();
    this.SHUTDOWN_GRACE_MS = graceCovering(this.REQUEST_TIMEOUT_MS);
  }

  /** `validateEnv`'s (DerivesDefaults): an unset SHUTDOWN_GRACE_MS covers the REQUEST_TIMEOUT_MS given. */
  static deriveDefaults(env: RequestDeadlineEnv, given: Readonly<Record<string, string>>): void {
    // A REQUEST_TIMEOUT_MS that is no number is reported as such; the grace then keeps the default's.
    if (!('SHUTDOWN_GRACE_MS' in given) && Number.isInteger(env.REQUEST_TIMEOUT_MS)) {
      env.SHUTDOWN_GRACE_MS = graceCovering(env.REQUEST_TIMEOUT_MS);
    }
  }
}
