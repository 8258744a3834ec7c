import type { Provider } from '@nestjs/common';
import { BUILT_IN_TIERS, loadTiersFile, type TierTable } from '@aigw/core';
import { ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';

/** The usage tiers: the built-in ones, with TIERS_FILE merged over them. */
export const TIERS = Symbol('TIERS');

/** Reads TIERS_FILE once at boot: a bad file stops the gateway with every problem named (TierConfigError). */
export const tiersProvider: Provider<TierTable> = {
  provide: TIERS,
  inject: [ENV],
  useFactory: (env: GatewayEnv): TierTable =>
    env.TIERS_FILE === undefined ? BUILT_IN_TIERS : loadTiersFile(env.TIERS_FILE),
};
