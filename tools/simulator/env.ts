import { InvalidEnvironmentError } from '@aigw/core';
import { type SimulatorConfig, SimulatorConfigError, validateSimulatorPatch } from '@aigw/testing';

export interface SimulatorEnv {
  host: string;
  port: number;
  name: string;
  config: Partial<SimulatorConfig>;
}

type Env = Record<string, string | undefined>;
type Parse = (raw: string) => unknown;

const NUMBER = /^-?(\d+\.?\d*|\.\d+)$/;

const asNumber: Parse = (raw) => {
  if (!NUMBER.test(raw)) {
    throw new Error(`must be a number, got "${raw}"`);
  }
  return Number(raw);
};

const asBoolean: Parse = (raw) => {
  const v = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) {
    return true;
  }
  if (['0', 'false', 'no', 'off'].includes(v)) {
    return false;
  }
  throw new Error(`must be true/false (or 1/0), got "${raw}"`);
};

const asList =
  (item: Parse): Parse =>
  (raw) =>
    raw.split(',').map((s) => item(s.trim()));

const asString: Parse = (raw) => raw;

const asJson: Parse = (raw) => {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new Error(`must be JSON, got "${raw}"`);
  }
};

/** Environment variable → simulator setting. Unset or empty variables keep the defaults. */
const SETTINGS: [string, keyof SimulatorConfig, Parse][] = [
  ['SIM_LATENCY_MS', 'latencyMs', asNumber],
  ['SIM_JITTER_MS', 'jitterMs', asNumber],
  ['SIM_CHUNK_DELAY_MS', 'chunkDelayMs', asNumber],
  ['SIM_COMPLETION_TOKENS', 'completionTokens', asNumber],
  ['SIM_FAIL_RATE', 'failRate', asNumber],
  ['SIM_FAIL_STATUS', 'failStatus', asList(asNumber)],
  ['SIM_RETRY_AFTER_S', 'retryAfterS', (raw) => (raw.toLowerCase() === 'none' ? null : asNumber(raw))],
  ['SIM_FAIL_MODE', 'failMode', asString],
  ['SIM_FAIL_AFTER_CHUNKS', 'failAfterChunks', asNumber],
  ['SIM_REQUIRE_AUTH', 'requireAuth', asBoolean],
  ['SIM_ECHO', 'echo', asBoolean],
  ['SIM_MODELS', 'models', asList(asString)],
  ['SIM_CACHED_TOKENS', 'cachedTokens', asNumber],
  // {"requests": {"limit", "remaining", "resetMs"} | null, "tokens": ...}, or `none` for no rate-limit headers.
  ['SIM_RATE_LIMIT', 'rateLimit', (raw) => (raw.toLowerCase() === 'none' ? null : asJson(raw))],
];

/** Every variable the simulator reads (the usage text names each). */
export const SIMULATOR_VARIABLES: readonly string[] = ['SIM_HOST', 'SIM_PORT', 'SIM_NAME', ...SETTINGS.map(([v]) => v)];

function problemOf(err: unknown, raw: string): string {
  if (err instanceof SimulatorConfigError) {
    // The config error names the setting; the operator needs the reason and the value.
    return `${err.message.replace(/^simulator config "[^"]+" /, '')}, got "${raw}"`;
  }
  return err instanceof Error ? err.message : `is invalid, got "${raw}"`;
}

/**
 * Reads the simulator CLI's environment. Throws InvalidEnvironmentError naming every bad
 * variable (with the value, which is never a secret here).
 */
export function parseSimulatorEnv(env: Env): SimulatorEnv {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [variable, key, parse] of SETTINGS) {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === '') {
      continue;
    }
    try {
      Object.assign(config, validateSimulatorPatch({ [key]: parse(raw) }));
    } catch (err) {
      problems.push(`${variable}: ${problemOf(err, raw)}`);
    }
  }
  const host = env.SIM_HOST?.trim() || '127.0.0.1';
  const rawPort = env.SIM_PORT?.trim() || '9100';
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65_535) {
    problems.push(`SIM_PORT: must be an integer between 0 and 65535, got "${rawPort}"`);
  }
  const name = env.SIM_NAME?.trim() || 'sim';
  if (problems.length > 0) {
    throw new InvalidEnvironmentError(problems);
  }
  return { host, port, name, config: config };
}
