import { ErrorCode, GatewayError, type ReplyMessage } from '@aigw/core';
import { LocalReplies } from './local-replies';

const chunk = (seq: number): ReplyMessage => ({ t: 'chunk', jobId: 'job-1', seq, text: `w${seq}` });

describe('LocalReplies', () => {
  it('has no sender for a channel nobody in the process registered', () => {
    const replies = new LocalReplies();
    replies.register('aigw:reply:a', () => undefined);
    expect(replies.senderTo('aigw:reply:b')).toBeNull();
  });

  it('delivers after the send returns, in the order of the sends, the same objects', async () => {
    const replies = new LocalReplies();
    const got: ReplyMessage[] = [];
    replies.register('aigw:reply:a', (m) => got.push(m));
    const send = replies.senderTo('aigw:reply:a');
    const sent = [chunk(0), chunk(1), chunk(2)];
    for (const m of sent) {
      send?.(m);
    }
    expect(got).toEqual([]);
    await Promise.resolve();
    expect(got).toHaveLength(3);
    got.forEach((m, i) => expect(m).toBe(sent[i]));
  });

  it('keeps two jobs on one channel apart and each in order', async () => {
    const replies = new LocalReplies();
    const got: string[] = [];
    replies.register('c', (m) => got.push(`${m.jobId}:${m.t === 'chunk' ? m.seq : m.t}`));
    const a = replies.senderTo('c');
    const b = replies.senderTo('c');
    a?.({ t: 'chunk', jobId: 'a', seq: 0, text: '' });
    b?.({ t: 'chunk', jobId: 'b', seq: 0, text: '' });
    a?.({ t: 'chunk', jobId: 'a', seq: 1, text: '' });
    b?.({ t: 'error', jobId: 'b', error: new GatewayError(ErrorCode.Internal, 'x').toBody() });
    await Promise.resolve();
    expect(got).toEqual(['a:0', 'b:0', 'a:1', 'b:error']);
  });

  it('stops routing once unregistered; a second registration of a live channel is refused', () => {
    const replies = new LocalReplies();
    const unregister = replies.register('c', () => undefined);
    expect(() => replies.register('c', () => undefined)).toThrow(/already registered/);
    unregister();
    expect(replies.senderTo('c')).toBeNull();
    const again = replies.register('c', () => undefined);
    // A stale unregister does not remove the new receiver.
    unregister();
    expect(replies.senderTo('c')).not.toBeNull();
    again();
  });

  it('keeps a throwing receiver from breaking the sender or later deliveries, and logs its failure', async () => {
    const logged: string[] = [];
    const replies = new LocalReplies({}, { error: (line: string) => logged.push(line) });
    const got: number[] = [];
    replies.register('c', (m) => {
      if (m.t === 'chunk' && m.seq === 0) {
        throw new Error('boom');
      }
      got.push(m.t === 'chunk' ? m.seq : -1);
    });
    const send = replies.senderTo('c');
    expect(() => send?.(chunk(0))).not.toThrow();
    send?.(chunk(1));
    await Promise.resolve();
    expect(got).toEqual([1]);
    expect(logged).toEqual(['a local reply receiver failed: Error: boom']);
  });

  it('with freeze, makes a change to a handed-over message throw on either side', async () => {
    const replies = new LocalReplies({ freeze: true });
    let received: ReplyMessage | undefined;
    replies.register('c', (m) => (received = m));
    const message: ReplyMessage = {
      t: 'chunk',
      jobId: 'j',
      seq: 0,
      text: '',
      toolCalls: [{ index: 0, arguments: '{' }],
    };
    replies.senderTo('c')?.(message);
    await Promise.resolve();
    expect(received).toBe(message);
    expect(() => {
      (message as { text: string }).text = 'changed';
    }).toThrow(TypeError);
    expect(() => message.toolCalls?.push({ index: 1 })).toThrow(TypeError);
  });
});
