import { Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { GenerationQueue, type GenerateJob } from '../generation/generation-queue';
import type { AuthContext } from '../http/request-context';
import { jobStatusView, type JobStatusView } from './job-status';

/** Job ids this gateway mints (`req_…`, `idem_…`); anything else cannot exist, so no lookup for it. */
const JOB_ID = /^[A-Za-z0-9_.-]{1,200}$/;

@Injectable()
export class JobsService {
  constructor(private readonly queue: GenerationQueue) {}

  /** 404 for unknown jobs and for other users' jobs alike (admins see all): ids do not leak existence. */
  async status(jobId: string, auth: AuthContext): Promise<JobStatusView> {
    const job = JOB_ID.test(jobId) ? await this.read(jobId) : undefined;
    if (job === undefined || (job.data.request.userId !== auth.userId && auth.role !== 'admin')) {
      throw new GatewayError(ErrorCode.NotFound, 'No job with this id.', { param: 'id' });
    }
    return jobStatusView(jobId, job);
  }

  private async read(jobId: string): Promise<GenerateJob | undefined> {
    try {
      return await this.queue.get(jobId);
    } catch (err) {
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'Jobs cannot be read right now; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }
}
