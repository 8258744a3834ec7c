import { CLIENT_GONE_MESSAGE, ErrorCode, type GenerateOutcome, type Reservation } from '@aigw/core';
import { ShutdownState } from '@aigw/platform';
import { Registry } from 'prom-client';
import type { AdmissionService } from '../admission/admission.service';
import type { GatewayEnv } from '../config/gateway-env';
import type { CancellationService } from '../generation/cancellation.service';
import { GatewayMetrics } from '../generation/gateway-metrics';
import type { CancelRecord, GenerateJob, GenerationQueue } from '../generation/generation-queue';
import type { AuthContext } from '../http/request-context';
import { JobsService } from './jobs.service';

/** The answer a worker stores for the run it aborted. */
const aborted: GenerateOutcome = {
  ok: false,
  error: { message: CLIENT_GONE_MESSAGE, type: 'timeout_error', code: ErrorCode.Timeout, param: null },
  abortCause: 'client_disconnected',
};

/**
 * A queued job removed by its owner's cancel: the job was the only copy of its reservation. A refund that fails there
 * is owed by the cancel record, and given back by the next cancel (or read) of the job.
 */
describe('JobsService: refund of a cancelled job removed from the queue', () => {
  const reservation = { userId: 'u', amountUsd: 0.5 } as unknown as Reservation;
  const request = {
    userId: 'u',
    apiKeyId: 'k',
    requestId: 'req_1',
    reservation,
    deadlineAt: Date.now() + 3_600_000,
    receivedAt: Date.now(),
  };
  const auth = { userId: 'u', apiKeyId: 'k', role: 'user' } as AuthContext;

  function setUp(): {
    jobs: JobsService;
    refundOnce: jest.Mock;
    stored: () => CancelRecord | null;
    recordCancel: jest.Mock;
  } {
    let job: GenerateJob | undefined = {
      timestamp: 1_000,
      data: { request, replyTo: null },
      opts: {},
    } as unknown as GenerateJob;
    let record: CancelRecord | null = null;
    const queue = {
      // A queued job: not in the active list.
      stored: jest.fn(() => Promise.resolve(job === undefined ? undefined : { job, active: false })),
      kept: jest.fn(() => Promise.resolve(null)),
      cancelRecord: jest.fn(() => Promise.resolve(record)),
      recordCancel: jest.fn((_id: string, r: CancelRecord) => Promise.resolve((record ??= r))),
      refunded: jest.fn((_id: string, r: CancelRecord) => {
        const { refund: _given, ...rest } = r;
        record = rest;
        return Promise.resolve(rest);
      }),
    };
    const cancellation = {
      stop: jest.fn(() => {
        job = undefined;
        return Promise.resolve(true);
      }),
    };
    // The first refund fails (Redis unavailable: refundOnce reports it and resolves false), the next succeeds.
    const refundOnce = jest.fn().mockResolvedValueOnce(false).mockResolvedValue(true);
    const jobs = new JobsService(
      { ASYNC_JOB_RETENTION_S: 3600, REQUEST_TIMEOUT_MS: 120_000 } as GatewayEnv,
      queue as unknown as GenerationQueue,
      cancellation as unknown as CancellationService,
      { refundOnce } as unknown as AdmissionService,
      new GatewayMetrics(new Registry()),
      new ShutdownState(),
    );
    return { jobs, refundOnce, stored: () => record, recordCancel: queue.recordCancel };
  }

  it('a second cancel gives back the reservation the first failed to, once', async () => {
    const { jobs, refundOnce, stored, recordCancel } = setUp();
    expect((await jobs.cancel('j', auth, Date.now())).status).toBe('cancelled');
    // Kept as long as the job may be: it could end as late as its deadline (an hour away), then stay its retention.
    expect(recordCancel.mock.calls[0][2]).toBeGreaterThan(3600 + 3500);
    expect(refundOnce).toHaveBeenCalledTimes(1);
    expect(stored()?.refund).toEqual({
      reservation,
      requestId: 'req_1',
      deadlineAt: request.deadlineAt,
      receivedAt: request.receivedAt,
    });

    expect((await jobs.cancel('j', auth, Date.now())).status).toBe('cancelled');
    expect(refundOnce).toHaveBeenCalledTimes(2);
    // `true`: the cancelled job's request is taken off the day's and month's request counts too.
    expect(refundOnce).toHaveBeenLastCalledWith(expect.objectContaining({ reservation, requestId: 'req_1' }), true);
    expect(stored()?.refund).toBeUndefined();

    // Given back: nothing owed any more.
    expect((await jobs.cancel('j', auth, Date.now())).status).toBe('cancelled');
    expect((await jobs.status('j', auth, Date.now())).status).toBe('cancelled');
    expect(refundOnce).toHaveBeenCalledTimes(2);
  });

  it('a read of the job gives it back too', async () => {
    const { jobs, refundOnce, stored } = setUp();
    await jobs.cancel('j', auth, Date.now());
    expect((await jobs.status('j', auth, Date.now())).status).toBe('cancelled');
    expect(refundOnce).toHaveBeenCalledTimes(2);
    expect(stored()?.refund).toBeUndefined();
  });

  it('a running job: the cancel message is sent again on each poll until its worker stopped it', async () => {
    let polls = 0;
    const running = { timestamp: 1_000, processedOn: 1_500, data: { request, replyTo: null }, opts: {} };
    const queue = {
      // Running for the first reads (the first message lost), then aborted by its worker.
      snapshot: jest.fn(() => {
        polls += 1;
        return Promise.resolve(polls > 3 ? { state: 'completed', outcome: aborted } : { state: 'running' });
      }),
      stored: jest.fn(() =>
        Promise.resolve({
          job: {
            ...running,
            ...(polls > 3 ? { finishedOn: 3_000, returnvalue: aborted } : {}),
          } as unknown as GenerateJob,
          active: polls <= 3,
        }),
      ),
      kept: jest.fn(() => Promise.resolve(null)),
      cancelRecord: jest.fn(() => Promise.resolve(null)),
      recordCancel: jest.fn((_id: string, r: CancelRecord) => Promise.resolve(r)),
      held: jest.fn((_id: string, r: CancelRecord) => Promise.resolve(r)),
    };
    const cancellation = { stop: jest.fn(() => Promise.resolve(false)), resend: jest.fn() };
    const jobs = new JobsService(
      { ASYNC_JOB_RETENTION_S: 3600, REQUEST_TIMEOUT_MS: 120_000 } as GatewayEnv,
      queue as unknown as GenerationQueue,
      cancellation as unknown as CancellationService,
      { refundOnce: jest.fn() } as unknown as AdmissionService,
      new GatewayMetrics(new Registry()),
      new ShutdownState(),
    );
    expect((await jobs.cancel('j', auth, Date.now())).status).toBe('cancelled');
    expect(cancellation.stop).toHaveBeenCalledWith('j', 'req_1');
    expect(cancellation.resend.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(cancellation.resend).toHaveBeenLastCalledWith('j', 'req_1');
    // Held by its worker: its record speaks only beside the job from now on.
    expect(queue.held).toHaveBeenCalledWith('j', expect.objectContaining({ requestId: 'req_1' }), true);
  });
});
