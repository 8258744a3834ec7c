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

  it('reports a crashed job or one with a malformed return value as failed, without its internals', () => {
    const crashed = snapshotOf({ finishedOn: 9, returnvalue: null, failedReason: 'TypeError at /app/x.js' });
    expect(crashed).toEqual({ state: 'failed' });
    expect(snapshotOf({ finishedOn: 9, returnvalue: { ok: true } })).toEqual({ state: 'failed' });
    const settled = settlementOf(crashed);
    expect(settled.done && 'error' in settled && settled.error.code).toBe(ErrorCode.Internal);
    expect(settled.done && 'error' in settled && settled.error.message).not.toContain('TypeError');
  });

  it('fails a missing job', () => {
    const settled = settlementOf(snapshotOf(undefined));
    expect(settled.done && 'error' in settled && settled.error.code).toBe(ErrorCode.Internal);
  });
});
