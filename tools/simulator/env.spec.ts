import { InvalidEnvironmentError } from '@aigw/core';
import { parseSimulatorEnv } from './env';

describe('parseSimulatorEnv', () => {
  it('defaults to 127.0.0.1:9100 and the library defaults', () => {
    expect(parseSimulatorEnv({})).toEqual({ host: '127.0.0.1', port: 9100, name: 'sim', config: {} });
  });

  it('reads every setting', () => {
    const env = parseSimulatorEnv({
      SIM_HOST: '0.0.0.0',
      SIM_PORT: '0',
      SIM_NAME: 'bench',
      SIM_LATENCY_MS: '50',
      SIM_JITTER_MS: '2.5',
      SIM_CHUNK_DELAY_MS: '1',
      SIM_COMPLETION_TOKENS: '8',
      SIM_FAIL_RATE: '0.25',
      SIM_FAIL_STATUS: '429, 503',
      SIM_RETRY_AFTER_S: '2',
      SIM_FAIL_MODE: 'drop_mid_stream',
      SIM_FAIL_AFTER_CHUNKS: '1',
      SIM_REQUIRE_AUTH: 'true',
      SIM_ECHO: '1',
      SIM_MODELS: 'sim-a,sim-b',
      SIM_CACHED_TOKENS: '3',
      SIM_RATE_LIMIT: '{"requests": {"limit": 60, "remaining": 5, "resetMs": 1000}, "tokens": null}',
    });
    expect(env).toEqual({
      host: '0.0.0.0',
      port: 0,
      name: 'bench',
      config: {
        latencyMs: 50,
        jitterMs: 2.5,
        chunkDelayMs: 1,
        completionTokens: 8,
        failRate: 0.25,
        failStatus: [429, 503],
        retryAfterS: 2,
        failMode: 'drop_mid_stream',
        failAfterChunks: 1,
        requireAuth: true,
        echo: true,
        models: ['sim-a', 'sim-b'],
        cachedTokens: 3,
        rateLimit: { requests: { limit: 60, remaining: 5, resetMs: 1000 }, tokens: null },
      },
    });
  });

  it('treats empty variables as unset and "none" as no Retry-After or rate-limit headers', () => {
    expect(parseSimulatorEnv({ SIM_LATENCY_MS: '', SIM_RETRY_AFTER_S: 'none', SIM_RATE_LIMIT: 'none' }).config).toEqual(
      {
        retryAfterS: null,
        rateLimit: null,
      },
    );
  });

  it.each([
    ['SIM_PORT', 'abc'],
    ['SIM_PORT', '70000'],
    ['SIM_PORT', '-1'],
    ['SIM_LATENCY_MS', '10ms'],
    ['SIM_FAIL_RATE', '1.5'],
    ['SIM_FAIL_STATUS', '503,oops'],
    ['SIM_FAIL_STATUS', '200'],
    ['SIM_FAIL_MODE', 'explode'],
    ['SIM_REQUIRE_AUTH', 'maybe'],
    ['SIM_COMPLETION_TOKENS', '2.5'],
    ['SIM_RATE_LIMIT', '{requests'],
    ['SIM_RATE_LIMIT', '{"requests": {"limit": -1, "remaining": 0, "resetMs": 0}}'],
  ])('rejects %s=%s naming the variable', (variable, value) => {
    expect(() => parseSimulatorEnv({ [variable]: value })).toThrow(new RegExp(`${variable}: .*`));
  });

  it('lists every bad variable at once', () => {
    const err = (() => {
      try {
        parseSimulatorEnv({ SIM_PORT: 'x', SIM_ECHO: 'x', SIM_FAIL_RATE: '9' });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(InvalidEnvironmentError);
    expect((err as InvalidEnvironmentError).problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'SIM_ECHO',
      'SIM_FAIL_RATE',
      'SIM_PORT',
    ]);
  });
});
