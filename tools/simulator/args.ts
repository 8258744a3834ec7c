/**
 * The simulator is configured by its environment only; its command line takes `--help` and nothing else. Anything
 * else used to be ignored: `npm run simulator -- --help` started a server on port 9100 instead of saying how.
 */
export const SIMULATOR_USAGE = `Usage: npm run simulator [-- --help]

Starts the provider simulator: a fake LLM provider (canned answers, NOT a real model) speaking the
OpenAI, Anthropic, Gemini, Ollama and TGI wire formats, for the quickstart, tests and benchmarks.
It takes no arguments; it is configured by its environment. SIGTERM or Ctrl-C stops it.

Environment (unset or empty keeps the default):
  SIM_HOST               address to listen on (default 127.0.0.1)
  SIM_PORT               port to listen on, 0 for any free one (default 9100)
  SIM_NAME               name sent in the x-simulator-name header (default sim)
  SIM_MODELS             model ids it serves, comma-separated (default sim-gpt,sim-claude,sim-shared)
  SIM_LATENCY_MS         delay before answering (default 0)
  SIM_JITTER_MS          random extra delay, up to this (default 0)
  SIM_CHUNK_DELAY_MS     delay between stream chunks (default 0)
  SIM_COMPLETION_TOKENS  tokens in each answer (default 32)
  SIM_FAIL_RATE          fraction of requests that fail, 0 to 1 (default 0)
  SIM_FAIL_STATUS        statuses a failure picks from, comma-separated (default 503)
  SIM_FAIL_MODE          status, malformed, drop, hang, drop_mid_stream or error_mid_stream (default status)
  SIM_FAIL_AFTER_CHUNKS  chunks sent before a *_mid_stream failure (default 3)
  SIM_RETRY_AFTER_S      Retry-After sent with 429/503/529 failures, or none (default none)
  SIM_REQUIRE_AUTH       true: answer 401 without an Authorization or x-api-key header (default false)
  SIM_ECHO               true: answer with the last user message (default false)
  SIM_CACHED_TOKENS      cached prompt tokens reported in usage (default 0)
  SIM_RATE_LIMIT         rate-limit headers as JSON {"requests": {"limit", "remaining", "resetMs"} | null,
                         "tokens": ...}, or none (default none)

Exit status: 0 after a clean stop, 1 for a bad variable or a port it cannot listen on, 2 for a bad
command line.`;

export type SimulatorArgs = { kind: 'run' } | { kind: 'help' } | { kind: 'usage-error'; message: string };

/** What the command line asks for: start (no arguments), the usage text, or a mistake to report with it. */
export function parseSimulatorArgs(argv: readonly string[]): SimulatorArgs {
  if (argv.length === 0) {
    return { kind: 'run' };
  }
  if (argv.length === 1 && ['--help', '-h', 'help'].includes(argv[0])) {
    return { kind: 'help' };
  }
  return {
    kind: 'usage-error',
    message: `unexpected argument '${argv[0]}': the simulator is configured by SIM_* variables, not arguments`,
  };
}
