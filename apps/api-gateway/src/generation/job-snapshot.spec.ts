import { ErrorCode, type GenerationResult } from '@aigw/core';
import { settlementOf, snapshotOf } from './job-snapshot';

const result = { requestId: 'r', text: 'hi' } as GenerationResult;

describe('snapshotOf / settlementOf', () => {
  it('keeps waiting while the job is queued or running', () => {
    expect(snapshotOf({ returnvalue: null })).toEqual({ state: 'queued' });
    expect(snapshotOf({ processedOn: 5, returnvalue: null })).toEqual({ state: 'running' });
    expect(settlementOf(snapshotOf({ processedOn: 5, returnvalue: null }))).toEqual({ done: false });
  });

  it('answers from a stored successful outcome', () => {
    const s = snapshotOf({ processedOn: 5, finishedOn: 9, returnvalue: { ok: true, result } });
    expect(s).toEqual({ state: 'completed', outcome: { ok: true, result } });
    expect(settlementOf(s)).toEqual({ done: true, result });
  });

  it('turns a stored failure into its GatewayError, retry hint included', () => {
    const s = snapshotOf({
      finishedOn: 9,
      returnvalue: {
        ok: false,
        error: { message: 'slow down', type: 'rate_limit_error', code: ErrorCode.RateLimited, param: null },
        retryAfterMs: 2000,
      },
    });
    const settled = settlementOf(s);
    expect(settled.done && 'error' in settled && settled.error.code).toBe(ErrorCode.RateLimited);
    expect(settled.done && 'error' in settled && settled.error.retryAfterMs).toBe(2000);
  });

  it('reports a job whose every attempt failed with the real reason (first line only) and the attempts made', () => {
    const reason = 'usage event not stored: Redis unavailable until the shutdown grace ran out\n    at stack';
    const crashed = snapshotOf({ finishedOn: 9, returnvalue: null, failedReason: reason, attemptsMade: 3 });
    expect(crashed).toEqual({ state: 'failed', reason, attempts: 3 });
    expect(snapshotOf({ finishedOn: 9, returnvalue: { ok: true } })).toEqual({
      state: 'failed',
      reason: 'unknown',
      attempts: 1,
    });
    const settled = settlementOf(crashed);
    expect(settled.done && 'error' in settled && settled.error.code).toBe(ErrorCode.Internal);
    expect(settled.done && 'error' in settled && settled.error.message).toBe(
      'The generation failed after 3 attempts: usage event not stored: Redis unavailable until the shutdown grace ran out',
    );
  });

  it('fails a missing job as retryable: it was not carried out', () => {
    const settled = settlementOf(snapshotOf(undefined));
    expect(settled.done && 'error' in settled && settled.error.code).toBe(ErrorCode.ServiceUnavailable);
    expect(settled.done && 'error' in settled && settled.error.retryAfterMs).toBe(1_000);
  });
});
