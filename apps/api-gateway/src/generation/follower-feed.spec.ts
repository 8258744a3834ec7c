import type { GenerationResult, ReplyMessage } from '@aigw/core';
import { FollowerFeed } from './follower-feed';
import { SyncWait } from './sync-wait';

const result = { text: 'hello' } as GenerationResult;

function waiter(): SyncWait {
  return new SyncWait({ jobId: 'j', deadlineAt: Infinity, firstCheckMs: 1, checkEveryMs: 1, onAbandon: () => {} });
}

describe('FollowerFeed', () => {
  it('holds live messages until the log is replayed, then relays them after it', async () => {
    const w = waiter();
    const seen: string[] = [];
    const onReply = w.onReply.bind(w);
    w.onReply = (m: ReplyMessage): void => {
      seen.push(m.t);
      onReply(m);
    };
    const feed = new FollowerFeed(w);
    feed.onReply({ t: 'result', jobId: 'j', result });
    expect(seen).toEqual([]);
    feed.replay([
      { t: 'start', jobId: 'j', provider: 'p', model: 'm', route: 'direct', attempts: 1, id: 'c', created: 1 },
    ]);
    expect(seen).toEqual(['start', 'result']);
    await expect(w.answer).resolves.toBe(result);
    // Finished: the rest is dropped.
    feed.onReply({ t: 'result', jobId: 'j', result });
    expect(seen).toEqual(['start', 'result']);
  });

  it('an answer in the log ends the wait; duplicates live are ignored', async () => {
    const w = waiter();
    const feed = new FollowerFeed(w);
    feed.onReply({ t: 'result', jobId: 'j', result });
    feed.replay([{ t: 'result', jobId: 'j', result }]);
    await expect(w.answer).resolves.toBe(result);
    expect(w.done).toBe(true);
  });
});
