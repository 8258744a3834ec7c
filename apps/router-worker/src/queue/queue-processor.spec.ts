import { CLIENT_CLOSED_REQUEST, JobName, QueueName, type GenerateOutcome } from '@aigw/core';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { assertHandlers, QueueProcessor, type JobOutcome } from './queue-processor';

function job(name: string, data: unknown = {}): Job {
  return { name, data } as Job;
}

describe('assertHandlers', () => {
  it('refuses to start when a job of the queue has no handler', () => {
    expect(() => assertHandlers(QueueName.Generation, {})).toThrow(
      "refusing to start: job 'generate' of queue 'generation' has no handler",
    );
  });

  it("refuses a handler for another queue's job", () => {
    expect(() =>
      assertHandlers(QueueName.Usage, {
        [JobName.RecordUsage]: () => Promise.resolve(),
        [JobName.Generate]: () => Promise.reject(new Error('unused')),
      }),
    ).toThrow("job 'generate' belongs to queue 'generation', not 'usage'");
  });
});

describe('QueueProcessor', () => {
  const seen: [string, string, JobOutcome][] = [];
  const observe = (queue: QueueName, name: string, outcome: JobOutcome): void => {
    seen.push([queue, name, outcome]);
  };
  beforeEach(() => (seen.length = 0));

  it('reports a job its handler put back for later (DelayedError) as delayed, not failed', async () => {
    const p = new QueueProcessor(
      QueueName.Usage,
      { [JobName.RecordUsage]: () => Promise.reject(new DelayedError()) },
      observe,
    );
    await expect(p.process(job(JobName.RecordUsage))).rejects.toBeInstanceOf(DelayedError);
    expect(seen).toEqual([['usage', 'record-usage', 'delayed']]);
  });

  it('dispatches by job name and reports a failed generation as a completed job with an error', async () => {
    const outcome: GenerateOutcome = {
      ok: false,
      error: { message: 'm', type: 'provider_error', code: 'provider_error' as never, param: null },
    };
    const p = new QueueProcessor(
      QueueName.Generation,
      { [JobName.Generate]: () => Promise.resolve({ outcome, usage: { errorCode: 'provider_error' } }) },
      observe,
    );
    await expect(p.process(job(JobName.Generate))).resolves.toBe(outcome);
    expect(seen).toEqual([['generation', 'generate', 'error']]);
  });

  it('reports a generation its client cancelled as cancelled, not as an error', async () => {
    const outcome: GenerateOutcome = {
      ok: false,
      error: { message: 'm', type: 'timeout_error', code: 'timeout' as never, param: null },
    };
    const p = new QueueProcessor(
      QueueName.Generation,
      { [JobName.Generate]: () => Promise.resolve({ outcome, usage: { errorCode: CLIENT_CLOSED_REQUEST } }) },
      observe,
    );
    await expect(p.process(job(JobName.Generate))).resolves.toBe(outcome);
    expect(seen).toEqual([['generation', 'generate', 'cancelled']]);
  });

  it('reports a crash as failed and rethrows it', async () => {
    const crash = new Error('redis down');
    const p = new QueueProcessor(QueueName.Usage, { [JobName.RecordUsage]: () => Promise.reject(crash) }, observe);
    await expect(p.process(job(JobName.RecordUsage))).rejects.toBe(crash);
    expect(seen).toEqual([['usage', 'record-usage', 'failed']]);
  });

  it('fails unknown and misrouted jobs for good instead of retrying them', async () => {
    const p = new QueueProcessor(QueueName.Usage, { [JobName.RecordUsage]: () => Promise.resolve() }, observe);
    await expect(p.process(job('from-the-future'))).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(p.process(job(JobName.Generate))).rejects.toThrow("job 'generate' does not belong on queue 'usage'");
  });
});
