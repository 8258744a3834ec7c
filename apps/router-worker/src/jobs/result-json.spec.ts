import { ErrorCode, GatewayError, merged, type GenerationResult, type UsageEvent } from '@aigw/core';
import { outcomeOf } from '../usage/usage-event';
import { finalReplyJson, keptOutcomeJson, ResultJson } from './result-json';

/** What the simulator's answer becomes (captured from the bench's Redis), and one with every awkward character. */
function results(): GenerationResult[] {
  const plain: GenerationResult = {
    requestId: 'req_9c9acc9842994d2ea281719a8b6611f8',
    id: 'chatcmpl-simc19e33a0c0',
    created: 1796653360,
    text: 'This is the provider simulator speaking.',
    finishReason: 'stop',
    provider: 'sim',
    model: 'sim-gpt',
    route: 'direct',
    usage: { promptTokens: 3, completionTokens: 32, totalTokens: 35, cachedPromptTokens: 0 },
    costUsd: 0.000067,
    latencyMs: 82,
    providerLatencyMs: 5.8,
    attempts: [{ provider: 'sim', model: 'sim-gpt', route: 'direct', ok: true, latencyMs: 9.7, retries: 0 }],
    systemFingerprint: 'fp_simulator',
    serviceTier: 'default',
  };
  const awkward = merged(plain, {
    text: 'quote " backslash \\ newline \n tab \t nul \u0000 lone surrogate \ud800 emoji 😀 </script>',
    finishReason: null,
    costUsd: -0,
    charged: undefined,
    cached: true,
    toolCalls: [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } }],
  });
  return [plain, awkward];
}

const usage = { requestId: 'req_1', userId: 'u-1', status: 'success', costUsd: 0.1 } as unknown as UsageEvent;

describe('ResultJson: a result serialised once, the same text as JSON.stringify of each whole message', () => {
  it.each(results().map((r, i) => [i, r] as const))('the final reply (result %i)', (_i, result) => {
    const json = new ResultJson(result);
    for (const t of ['result', 'end'] as const) {
      expect(finalReplyJson(t, 'job "1"', json)).toBe(JSON.stringify({ t, jobId: 'job "1"', result }));
    }
  });

  it.each(results().map((r, i) => [i, r] as const))('the kept outcome (result %i)', (_i, result) => {
    const outcome = outcomeOf({ ok: true, result });
    const json = new ResultJson(result);
    for (const rest of [
      { userId: 'u-1', apiKeyId: 'k-1', receivedAt: 1796653360465, usage },
      { userId: 'u-1', apiKeyId: undefined, receivedAt: 1796653360465, usage },
      { userId: 'u-1', apiKeyId: 'k-1', receivedAt: Number.NaN, usage },
    ]) {
      expect(keptOutcomeJson(outcome, rest, json)).toBe(JSON.stringify(merged(outcome, rest)));
    }
  });

  it('serialises the result once for both', () => {
    const [result] = results();
    const json = new ResultJson(result);
    const stringify = jest.spyOn(JSON, 'stringify');
    try {
      finalReplyJson('result', 'job-1', json);
      keptOutcomeJson(outcomeOf({ ok: true, result }), { userId: 'u', receivedAt: 1, usage }, json);
      expect(stringify.mock.calls.filter(([v]) => v === result)).toHaveLength(1);
    } finally {
      stringify.mockRestore();
    }
  });

  it("serialises a failure, or an outcome whose result is not the one given, whole (the given JSON is not that result's)", () => {
    const [result, other] = results();
    const rest = { userId: 'u', receivedAt: 1, usage };
    const failed = outcomeOf({ ok: false, error: new GatewayError(ErrorCode.AllProvidersFailed, 'no') });
    expect(keptOutcomeJson(failed, rest, new ResultJson(result))).toBe(JSON.stringify(merged(failed, rest)));
    const outcome = outcomeOf({ ok: true, result: other });
    expect(keptOutcomeJson(outcome, rest, new ResultJson(result))).toBe(JSON.stringify(merged(outcome, rest)));
    expect(keptOutcomeJson(outcome, rest, undefined)).toBe(JSON.stringify(merged(outcome, rest)));
  });
});
