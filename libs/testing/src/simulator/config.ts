export const FAIL_MODES = ['status', 'malformed', 'drop', 'hang', 'drop_mid_stream', 'error_mid_stream'] as const;
export type FailMode = (typeof FAIL_MODES)[number];

/** One rate-limit window the simulator reports: its size, what is left of it, and ms until it is full again. */
export interface SimRateWindow {
  limit: number;
  remaining: number;
  resetMs: number;
}

/** The windows the simulator reports; a null window is left out of the headers. */
export interface SimRateLimit {
  requests: SimRateWindow | null;
  tokens: SimRateWindow | null;
}

export interface SimulatorConfig {
  /** Delay before the first byte of a provider answer (time to first byte). */
  latencyMs: number;
  /** Extra uniform random delay in [0, jitterMs) on top of latencyMs. */
  jitterMs: number;
  /** Delay between streamed content chunks. */
  chunkDelayMs: number;
  /** Tokens in the canned answer (one SSE content chunk each). */
  completionTokens: number;
  /** 0..1 fraction of requests that fail. */
  failRate: number;
  /** Statuses to pick from when failing. */
  failStatus: number[];
  /** Sent as Retry-After on 429/503/529 failures; null sends none. */
  retryAfterS: number | null;
  failMode: FailMode;
  /** Content chunks sent before a *_mid_stream failure (or a malformed stream line). */
  failAfterChunks: number;
  /** Fail exactly the next N provider requests, then behave normally. */
  failNext: number;
  /** Answer 401 unless Authorization or x-api-key is present. */
  requireAuth: boolean;
  /** Answer text = content of the last user message. */
  echo: boolean;
  /** Model ids listed by GET /v1/models. */
  models: string[];
  /** Reported as cached prompt tokens in usage (capped at the prompt estimate). */
  cachedTokens: number;
  /**
   * False: OpenAI-format answers carry no usage (no `usage` field, no usage chunk in a stream), as OpenAI-compatible
   * servers and proxies that ignore `stream_options.include_usage` answer.
   */
  reportUsage: boolean;
  /**
   * True: OpenAI `/v1/embeddings` and Ollama `/api/embed` answer vectors of the model's own length whatever
   * `dimensions` asks, as llama.cpp's server, LM Studio and Ollama before `dimensions` came (0.12) do, silently.
   */
  ignoreDimensions: boolean;
  /**
   * Rate-limit headers on every response of the OpenAI and Anthropic formats (answers and errors), each in its
   * provider's own dialect: `x-ratelimit-*` with Go-style durations (`6m0s`, `20ms`), `anthropic-ratelimit-*` with
   * RFC 3339 instants. Static figures for tests to set (nothing is counted down); null sends none.
   */
  rateLimit: SimRateLimit | null;
  /**
   * Extra headers on every error response (a `status` failure, and the errors a request earns by itself), as a provider
   * sends them with its error: `x-should-retry`, `retry-after-ms`, a `retry-after` on a 500. Names in lower case.
   */
  errorHeaders: Record<string, string>;
}

export const DEFAULT_SIMULATOR_CONFIG: Readonly<SimulatorConfig> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  chunkDelayMs: 0,
  completionTokens: 32,
  failRate: 0,
  failStatus: [503],
  retryAfterS: null,
  failMode: 'status',
  failAfterChunks: 3,
  failNext: 0,
  requireAuth: false,
  echo: false,
  models: ['sim-gpt', 'sim-claude', 'sim-shared'],
  cachedTokens: 0,
  reportUsage: true,
  ignoreDimensions: false,
  rateLimit: Object.freeze({
    requests: Object.freeze({ limit: 10_000, remaining: 9_999, resetMs: 6 }),
    tokens: Object.freeze({ limit: 10_000_000, remaining: 9_990_000, resetMs: 60 }),
  }),
  errorHeaders: Object.freeze({}),
});

/** A config value was rejected; `field` names the SimulatorConfig key. */
export class SimulatorConfigError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`simulator config "${field}" ${problem}`);
    this.name = 'SimulatorConfigError';
  }
}

// Node timers overflow past 2^31-1 ms; ten minutes is already far beyond any useful delay.
const MAX_DELAY_MS = 600_000;
const MAX_TOKENS = 100_000;

type Check = (value: unknown) => string | null;

const nonNegative =
  (max: number, integer: boolean): Check =>
  (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return 'must be a finite number';
    }
    if (integer && !Number.isInteger(v)) {
      return 'must be an integer';
    }
    return v < 0 || v > max ? `must be between 0 and ${max}` : null;
  };

const isBoolean: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');

const RATE_WINDOW_KEYS = ['limit', 'remaining', 'resetMs'];

function rateWindowProblem(v: unknown, name: string): string | null {
  if (v === null) {
    return null;
  }
  if (typeof v !== 'object' || Array.isArray(v) || Object.keys(v).some((k) => !RATE_WINDOW_KEYS.includes(k))) {
    return `.${name} must be null or {limit, remaining, resetMs}`;
  }
  const w = v as Record<string, unknown>;
  for (const k of RATE_WINDOW_KEYS) {
    const problem = nonNegative(Number.MAX_SAFE_INTEGER, true)(w[k]);
    if (problem !== null) {
      return `.${name}.${k} ${problem}`;
    }
  }
  return null;
}

const rateLimitProblem: Check = (v) => {
  if (v === null) {
    return null;
  }
  if (typeof v !== 'object' || Array.isArray(v) || Object.keys(v).some((k) => k !== 'requests' && k !== 'tokens')) {
    return 'must be null or {requests, tokens}';
  }
  const rl = v as Record<string, unknown>;
  return rateWindowProblem(rl.requests ?? null, 'requests') ?? rateWindowProblem(rl.tokens ?? null, 'tokens');
};

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

const headersProblem: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return 'must be an object of header names to values';
  }
  for (const [name, value] of Object.entries(v)) {
    if (!HEADER_NAME.test(name) || typeof value !== 'string' || /[\r\n]/.test(value)) {
      return `.${name} must be a lower-case header name with a one-line string value`;
    }
  }
  return null;
};

const CHECKS: Record<keyof SimulatorConfig, Check> = {
  latencyMs: nonNegative(MAX_DELAY_MS, false),
  jitterMs: nonNegative(MAX_DELAY_MS, false),
  chunkDelayMs: nonNegative(MAX_DELAY_MS, false),
  completionTokens: nonNegative(MAX_TOKENS, true),
  failRate: nonNegative(1, false),
  failStatus: (v) =>
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((s) => Number.isInteger(s) && (s as number) >= 400 && (s as number) <= 599)
      ? null
      : 'must be a non-empty list of HTTP error statuses (400..599)',
  retryAfterS: (v) => (v === null ? null : nonNegative(86_400, true)(v)),
  failMode: (v) => (FAIL_MODES.includes(v as FailMode) ? null : `must be one of ${FAIL_MODES.join(', ')}`),
  failAfterChunks: nonNegative(MAX_TOKENS, true),
  failNext: nonNegative(Number.MAX_SAFE_INTEGER, true),
  requireAuth: isBoolean,
  echo: isBoolean,
  models: (v) =>
    Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === 'string' && m.trim() !== '')
      ? null
      : 'must be a non-empty list of model ids',
  cachedTokens: nonNegative(Number.MAX_SAFE_INTEGER, true),
  reportUsage: isBoolean,
  ignoreDimensions: isBoolean,
  rateLimit: rateLimitProblem,
  errorHeaders: headersProblem,
};

function isConfigKey(key: string): key is keyof SimulatorConfig {
  return Object.prototype.hasOwnProperty.call(CHECKS, key);
}

/**
 * Checks a partial config (from code, the CLI environment or POST /_sim/config) and returns a
 * copy. Unknown keys are rejected so a typo in a test fails loudly instead of being ignored.
 */
export function validateSimulatorPatch(patch: unknown): Partial<SimulatorConfig> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new SimulatorConfigError('(patch)', 'must be a JSON object');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (!isConfigKey(key)) {
      throw new SimulatorConfigError(key, 'is not a simulator setting');
    }
    const problem = CHECKS[key](value);
    if (problem !== null) {
      throw new SimulatorConfigError(key, problem);
    }
    // A copy: the caller's arrays and objects stay theirs.
    out[key] = typeof value === 'object' && value !== null ? structuredClone(value) : value;
  }
  return out;
}
