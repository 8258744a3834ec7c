import { CLIENT_GONE_MESSAGE, ErrorCode, type ErrorBody, type GenerateOutcome } from '@aigw/core';
import type { CancelRecord, GenerateJob } from '../generation/generation-queue';
import { snapshotOf } from '../generation/job-snapshot';
import { cancelledJobView, endedClientGone, jobStatusView } from './job-status';

/** Only the fields the view reads; a real job carries many more. */
function job(fields: Partial<Pick<GenerateJob, 'processedOn' | 'finishedOn' | 'returnvalue'>>): GenerateJob {
  return { timestamp: 1_000, data: { request: { requestId: 'req_1' } }, ...fields } as unknown as GenerateJob;
}

const cancel: CancelRecord = { userId: 'u', requestId: 'req_1', createdAt: 1_000, cancelledAt: 2_000 };
const timeout: ErrorBody = {
  message: CLIENT_GONE_MESSAGE,
  type: 'timeout_error',
  code: ErrorCode.Timeout,
  param: null,
};
/** As a worker stores the run it aborted because its client left (or its owner cancelled it). */
const aborted: GenerateOutcome = { ok: false, error: timeout, abortCause: 'client_disconnected' };
const providerFailed: GenerateOutcome = {
  ok: false,
  error: { message: 'upstream 500', type: 'api_error', code: ErrorCode.ProviderError, param: null },
};

describe('job status of a cancelled job', () => {
  it('reads a job removed while queued from its record', () => {
    expect(cancelledJobView('j', cancel)).toEqual({
      jobId: 'j',
      status: 'cancelled',
      createdAt: new Date(1_000).toISOString(),
      finishedAt: new Date(2_000).toISOString(),
    });
  });

  it('is cancelled once its worker aborted it, still running before', () => {
    expect(jobStatusView('j', job({ processedOn: 1_500 }), cancel).status).toBe('running');
    const ended = jobStatusView('j', job({ processedOn: 1_500, finishedOn: 3_000, returnvalue: aborted }), cancel);
    expect(ended).toEqual({
      jobId: 'j',
      status: 'cancelled',
      createdAt: new Date(1_000).toISOString(),
      finishedAt: new Date(3_000).toISOString(),
    });
    // Without a cancel of its owner, the same outcome is a failure.
    expect(jobStatusView('j', job({ processedOn: 1_500, finishedOn: 3_000, returnvalue: aborted })).status).toBe(
      'failed',
    );
  });

  it('stays failed when it failed otherwise than by the abort of its worker, cancel or not', () => {
    const failed = job({ processedOn: 1_500, finishedOn: 3_000, returnvalue: providerFailed });
    expect(jobStatusView('j', failed, cancel)).toMatchObject({ status: 'failed', error: providerFailed.error });
    // The processor crashed (BullMQ failed the job): no stored answer, not the abort.
    const crashed = { ...job({ processedOn: 1_500, finishedOn: 3_000 }), failedReason: 'boom', attemptsMade: 1 };
    expect(jobStatusView('j', crashed as GenerateJob, cancel).status).toBe('failed');
  });
});

describe('endedClientGone', () => {
  const ended = (outcome: GenerateOutcome): boolean =>
    endedClientGone(snapshotOf({ processedOn: 1_500, finishedOn: 3_000, returnvalue: outcome }));

  it('reads the cause the worker stored, not the message', () => {
    const reworded = { ...timeout, message: 'Cancelled.' };
    expect(ended({ ok: false, error: reworded, abortCause: 'client_disconnected' })).toBe(true);
    // The same words, another cause (or none): not the client-gone abort.
    expect(ended({ ok: false, error: timeout, abortCause: null })).toBe(false);
    expect(ended({ ok: false, error: timeout, abortCause: 'deadline' })).toBe(false);
    expect(ended({ ok: false, error: providerFailed.error, abortCause: null })).toBe(false);
  });

  it('reads an outcome of an older worker (no cause stored) by its message', () => {
    expect(ended({ ok: false, error: timeout })).toBe(true);
    expect(ended({ ok: false, error: { ...timeout, message: 'Cancelled.' } })).toBe(false);
    expect(ended(providerFailed)).toBe(false);
  });

  it('keeps the cause out of the view: its error is the envelope alone', () => {
    const failed = job({ processedOn: 1_500, finishedOn: 3_000, returnvalue: aborted });
    // No cancel of its owner: a failure, shown with the stored error only.
    const view = jobStatusView('j', failed);
    expect(view.error).toEqual(timeout);
    expect(JSON.stringify(view)).not.toContain('abortCause');
    expect(JSON.stringify(jobStatusView('j', failed, cancel))).not.toContain('abortCause');
  });
});
