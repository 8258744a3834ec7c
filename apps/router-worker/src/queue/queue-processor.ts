import {
  CLIENT_CLOSED_REQUEST,
  JobName,
  QUEUE_OF_JOB,
  type GenerateOutcome,
  type JobMap,
  type QueueName,
  type UsageEvent,
} from '@aigw/core';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';

export type JobOf<J extends JobName> = Job<JobMap[J]['data'], JobMap[J]['result'], J>;
/**
 * What a generate handler resolves to: the job's outcome and its usage event, whose error code tells a job its client
 * cancelled (CLIENT_CLOSED_REQUEST) from one that failed; the outcome alone cannot (it reads `timeout`).
 */
export interface GenerateAnswer {
  outcome: GenerateOutcome;
  usage: Pick<UsageEvent, 'errorCode'>;
}
/** What each job's handler resolves to. */
interface HandlerResults {
  [JobName.Generate]: GenerateAnswer;
  [JobName.RecordUsage]: JobMap[JobName.RecordUsage]['result'];
}
/** `token`: the job's lock token, for a handler that moves its job (`moveToDelayed`); BullMQ always passes it. */
export type JobHandler<J extends JobName> = (job: JobOf<J>, token?: string) => Promise<HandlerResults[J]>;
/** Handlers of the jobs one queue carries, by job name. */
export type JobHandlers = { [J in JobName]?: JobHandler<J> };

/** How a job ended: `error` is a completed job whose outcome is a failure, `failed` a crashed processor. */
/** `delayed`: the handler put its job back for later (DelayedError), spending no attempt: it did not fail. */
/** `cancelled`: a generation stopped because its client went away (not an error: kept out of error rates). */
export type JobOutcome = 'success' | 'error' | 'failed' | 'delayed' | 'cancelled';
export type JobObserver = (queue: QueueName, name: string, outcome: JobOutcome, seconds: number) => void;

/** Refuses a handler table that leaves a job of the queue unhandled or claims another queue's job. */
export function assertHandlers(queue: QueueName, handlers: JobHandlers): void {
  const problems: string[] = [];
  for (const name of Object.values(JobName)) {
    const ours = QUEUE_OF_JOB[name] === queue;
    if (ours && !handlers[name]) {
      problems.push(`job '${name}' of queue '${queue}' has no handler`);
    }
    if (!ours && handlers[name]) {
      problems.push(`job '${name}' belongs to queue '${QUEUE_OF_JOB[name]}', not '${queue}'`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`refusing to start: ${problems.join('; ')}`);
  }
}

/** The one processor of a queue: dispatches on `job.name`, times the job and reports how it ended. */
export class QueueProcessor {
  constructor(
    readonly queue: QueueName,
    private readonly handlers: JobHandlers,
    private readonly observe: JobObserver,
  ) {
    assertHandlers(queue, handlers);
  }

  readonly process = async (job: Job, token?: string): Promise<unknown> => {
    const started = performance.now();
    const done = (outcome: JobOutcome): void =>
      this.observe(this.queue, job.name, outcome, (performance.now() - started) / 1000);
    try {
      const name = job.name as JobName;
      switch (name) {
        case JobName.Generate: {
          const generate = job as JobOf<JobName.Generate>;
          const { outcome, usage } = await this.handler(JobName.Generate)(generate);
          done(outcome.ok ? 'success' : usage.errorCode === CLIENT_CLOSED_REQUEST ? 'cancelled' : 'error');
          // A sync job's outcome is in OutcomeStore's key, and BullMQ deletes the job as it completes: as its return
          // value the answer would only be serialised again, sent in moveToFinished's arguments and copied into the
          // queue's event stream. An async job's return value is its stored outcome.
          return generate.data.keepOutcomeMs === undefined ? outcome : null;
        }
        case JobName.RecordUsage: {
          await this.handler(JobName.RecordUsage)(job as JobOf<JobName.RecordUsage>, token);
          done('success');
          return undefined;
        }
        default:
          // Written by a newer release, or garbage: retrying here cannot help.
          throw new UnrecoverableError(`unknown job name '${String(name)}' on queue '${this.queue}'`);
      }
    } catch (err) {
      done(err instanceof DelayedError ? 'delayed' : 'failed');
      throw err;
    }
  };

  private handler<J extends JobName>(name: J): JobHandler<J> {
    const handler: JobHandler<J> | undefined = this.handlers[name];
    if (!handler) {
      throw new UnrecoverableError(`job '${name}' does not belong on queue '${this.queue}'`);
    }
    return handler;
  }
}
