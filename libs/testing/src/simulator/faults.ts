import { type SimulatorConfig } from './config';

export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'malformed'; afterChunks: number }
  | { kind: 'drop' }
  | { kind: 'hang' }
  | { kind: 'drop_mid_stream'; afterChunks: number }
  | { kind: 'error_mid_stream'; afterChunks: number; status: number };

/**
 * Decides whether this request fails and how. `failNext` is consumed first (and decremented
 * in `cfg`, so the config shows how many forced failures remain); then `failRate` applies.
 */
export function drawFault(cfg: SimulatorConfig, random: () => number = Math.random): Fault | null {
  if (cfg.failNext > 0) {
    cfg.failNext--;
  } else if (!(cfg.failRate > 0 && random() < cfg.failRate)) {
    return null;
  }
  const status = cfg.failStatus[Math.floor(random() * cfg.failStatus.length)] ?? 503;
  switch (cfg.failMode) {
    case 'status':
      return { kind: 'status', status };
    case 'malformed':
      return { kind: 'malformed', afterChunks: cfg.failAfterChunks };
    case 'drop':
      return { kind: 'drop' };
    case 'hang':
      return { kind: 'hang' };
    case 'drop_mid_stream':
      return { kind: 'drop_mid_stream', afterChunks: cfg.failAfterChunks };
    case 'error_mid_stream':
      return { kind: 'error_mid_stream', afterChunks: cfg.failAfterChunks, status };
  }
}

/** Statuses on which real providers tell the client when to come back. */
export function wantsRetryAfter(status: number): boolean {
  return status === 429 || status === 503 || status === 529;
}
