import { Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { GenerationQueue, type GenerateJob, type KeptOutcome } from '../generation/generation-queue';
import type { AuthContext } from '../http/request-context';
import { jobStatusView, keptJobView, pastRetention, type JobStatusView } from './job-status';

/** Job ids this gateway mints (`req_…`, `idem_…`); anything else cannot exist, so no lookup for it. */
const JOB_ID = /^[A-Za-z0-9_.-]{1,200}$/;

@Injectable()
export class JobsService {
  constructor(private readonly queue: GenerationQueue) {}

  /**
   * 404 for unknown jobs and for other users' jobs alike (admins see all): ids do not leak existence. A job past its
   * retention (ASYNC_JOB_RETENTION_S) is unknown too, and removed as BullMQ's next sweep would have removed it.
   */
  async status(jobId: string, auth: AuthContext): Promise<JobStatusView> {
    const found = JOB_ID.test(jobId) ? await this.read(jobId) : undefined;
    if (found !== undefined && 'data' in found && pastRetention(found, Date.now())) {
      // Best effort, off the answer: a job that stays is swept later, and still reads as gone.
      found.remove().catch(() => undefined);
      throw notFound();
    }
    const owner = found === undefined ? undefined : 'data' in found ? found.data.request.userId : found.userId;
    if (found === undefined || (owner !== auth.userId && auth.role !== 'admin')) {
      throw notFound();
    }
    return 'data' in found ? jobStatusView(jobId, found) : keptJobView(jobId, found);
  }

  /**
   * The stored job, else (a sync job leaves BullMQ as it completes) the outcome the worker keeps for it until its
   * request's deadline: a streamed answer's cost is read here once the stream ended.
   */
  private async read(jobId: string): Promise<GenerateJob | KeptOutcome | undefined> {
    try {
      return (await this.queue.get(jobId)) ?? (await this.queue.kept(jobId)) ?? undefined;
    } catch (err) {
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'Jobs cannot be read right now; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }
}

function notFound(): GatewayError {
  return new GatewayError(ErrorCode.NotFound, 'No job with this id.', { param: 'id' });
}
