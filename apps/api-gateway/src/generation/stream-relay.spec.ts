import { ErrorCode, GatewayError, type GenerationResult, type ReplyMessage } from '@aigw/core';
import type { AbandonReason } from './reply-waiter';
import { openAiStream } from '../openai/sse-format';
import { FreshToolCallIds } from './fresh-tool-call-ids';
import { StreamRelay, type StreamSink } from './stream-relay';

class RecordingSink implements StreamSink {
  headers: Record<string, string> | null = null;
  readonly writes: string[] = [];
  ended = false;

  open(headers: Record<string, string>): void {
    this.headers = headers;
  }

  write(data: string): void {
    expect(this.headers).not.toBeNull();
    expect(this.ended).toBe(false);
    this.writes.push(data);
  }

  end(): void {
    this.ended = true;
  }

  /** Parsed `data:` payloads (one write may hold several events). */
  get events(): unknown[] {
    const events = this.writes
      .join('')
      .split('\n\n')
      .filter((e) => e !== '');
    return events.map((e) => {
      const data = e.slice('data: '.length);
      return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
    });
  }

  get text(): string {
    return this.events
      .map((e) => (e as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '')
      .join('');
  }
}

const jobId = 'job1';

function result(text: string): GenerationResult {
  return {
    requestId: 'r',
    id: 'c1',
    created: 7,
    text,
    finishReason: 'stop',
    provider: 'p',
    model: 'm',
    route: 'direct',
    usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3, cachedPromptTokens: 0 },
    costUsd: 0,
    latencyMs: 1,
    providerLatencyMs: 1,
    attempts: [],
  };
}

const start: ReplyMessage = {
  t: 'start',
  jobId,
  provider: 'p',
  model: 'm',
  route: 'direct',
  attempts: 2,
  id: 'c1',
  created: 7,
};
const chunk = (seq: number, text: string): ReplyMessage => ({ t: 'chunk', jobId, seq, text });

function setup(includeUsage = false) {
  const sink = new RecordingSink();
  const abandoned: AbandonReason[] = [];
  const ends: unknown[] = [];
  const relay = new StreamRelay({
    jobId,
    deadlineAt: Date.now() + 60_000,
    firstCheckMs: 2000,
    checkEveryMs: 1000,
    onAbandon: (r) => abandoned.push(r),
    sink,
    encoder: openAiStream(includeUsage),
    cache: 'miss',
    onEnd: (o) => ends.push(o),
  });
  return { sink, relay, abandoned, ends };
}

describe('StreamRelay', () => {
  it('relays start, chunks and end as OpenAI SSE ending with [DONE]', async () => {
    const { sink, relay, ends } = setup(true);
    relay.onReply(start);
    await expect(relay.started).resolves.toBeUndefined();
    expect(sink.headers).toEqual({
      'x-gateway-provider': 'p',
      'x-gateway-model': 'm',
      'x-gateway-attempts': '2',
      'x-gateway-route': 'direct',
      'x-gateway-cache': 'miss',
    });
    relay.onReply(chunk(0, 'he'));
    relay.onReply(chunk(1, 'llo'));
    relay.onReply({ t: 'end', jobId, result: result('hello') });
    expect(sink.text).toBe('hello');
    expect(sink.events).toHaveLength(6);
    expect(sink.events[3]).toMatchObject({ choices: [{ delta: {}, finish_reason: 'stop' }] });
    expect(sink.events[4]).toMatchObject({ choices: [], usage: { total_tokens: 3 } });
    expect(sink.events[5]).toBe('[DONE]');
    expect(sink.ended).toBe(true);
    expect(relay.done).toBe(true);
    expect(ends).toEqual([{ result: result('hello') }]);
  });

  it('relays logprobs that came without text as a chunk of empty content, and with a refusal on its chunk', () => {
    const { sink, relay } = setup();
    const lp = (token: string) => ({ content: [{ token, logprob: -1, bytes: [], top_logprobs: [] }] });
    relay.onReply(start);
    relay.onReply({
      t: 'chunks',
      jobId,
      seq: 0,
      pieces: [
        { text: 'Hi', logprobs: lp('Hi') },
        { text: '', logprobs: lp('x') },
        // Empty logprobs on their own are nothing to send.
        { text: '', logprobs: { content: [] } },
      ],
    });
    relay.onReply({ t: 'chunk', jobId, seq: 3, text: '', refusal: 'No', logprobs: { content: null, refusal: [] } });
    relay.onReply({ t: 'chunk', jobId, seq: 4, text: '', refusal: '.', logprobs: { refusal: [{ token: '.' }] } });
    relay.onReply({ t: 'end', jobId, result: { ...result('Hi'), refusal: 'No.' } });
    expect(sink.events).toHaveLength(7);
    const choices = sink.events.slice(1, 5).map((e) => (e as { choices: unknown[] }).choices[0]);
    expect(choices).toEqual([
      { index: 0, delta: { content: 'Hi' }, logprobs: lp('Hi'), finish_reason: null },
      { index: 0, delta: { content: '' }, logprobs: lp('x'), finish_reason: null },
      { index: 0, delta: { refusal: 'No' }, logprobs: { content: null, refusal: [] }, finish_reason: null },
      { index: 0, delta: { refusal: '.' }, logprobs: { refusal: [{ token: '.' }] }, finish_reason: null },
    ]);
    expect(sink.text).toBe('Hi');
  });

  it('sends nothing and rejects `started` when the job fails before its start', async () => {
    const { sink, relay } = setup();
    const error = { message: 'no', type: 'provider_error' as const, code: ErrorCode.AllProvidersFailed, param: null };
    relay.onReply({ t: 'error', jobId, error, retryAfterMs: 1000 });
    const err = await relay.started.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(ErrorCode.AllProvidersFailed);
    expect((err as GatewayError).retryAfterMs).toBe(1000);
    expect(sink.headers).toBeNull();
  });

  it('ends with an error event (no [DONE]) when the job fails after its start', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply(chunk(0, 'part'));
    const error = { message: 'broke', type: 'provider_error' as const, code: ErrorCode.ProviderError, param: null };
    relay.onReply({ t: 'error', jobId, error });
    expect(sink.events[sink.events.length - 1]).toEqual({ error });
    expect(sink.events).not.toContain('[DONE]');
    expect(sink.ended).toBe(true);
    relay.onReply({ t: 'end', jobId, result: result('part') });
    expect(sink.events).not.toContain('[DONE]');
  });

  it('holds chunks behind a gap and fills it from the final text', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply(chunk(0, 'a'));
    relay.onReply(chunk(2, 'c'));
    expect(sink.text).toBe('a');
    relay.onReply({ t: 'end', jobId, result: result('abc') });
    expect(sink.text).toBe('abc');
    expect(sink.events[sink.events.length - 1]).toBe('[DONE]');
  });

  it('relays a `chunks` message as one SSE event per piece, in one write', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    const before = sink.writes.length;
    relay.onReply({
      t: 'chunks',
      jobId,
      seq: 0,
      pieces: [{ text: 'he' }, { text: '', toolCalls: [{ index: 0, id: 'call_1', name: 'f' }] }, { text: 'llo' }],
    });
    expect(sink.writes).toHaveLength(before + 1);
    relay.onReply(chunk(3, '!'));
    relay.onReply({ t: 'end', jobId, result: { ...result('hello!'), toolCalls: [] } });
    const deltas = sink.events.map((e) => (e as { choices?: { delta?: unknown }[] }).choices?.[0]?.delta);
    expect(deltas.slice(1, 5)).toEqual([
      { content: 'he' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] },
      { content: 'llo' },
      { content: '!' },
    ]);
    expect(sink.text).toBe('hello!');
    expect(sink.events[sink.events.length - 1]).toBe('[DONE]');
  });

  it('orders `chunks` and `chunk` messages by seq, holding pieces behind a gap', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply({ t: 'chunks', jobId, seq: 2, pieces: [{ text: 'c' }, { text: 'd' }] });
    expect(sink.text).toBe('');
    relay.onReply(chunk(0, 'a'));
    expect(sink.text).toBe('a');
    relay.onReply({ t: 'chunks', jobId, seq: 1, pieces: [{ text: 'b' }] });
    expect(sink.text).toBe('abcd');
    relay.onReply({ t: 'chunks', jobId, seq: 2, pieces: [{ text: 'c' }, { text: 'd' }] });
    relay.onReply({ t: 'end', jobId, result: result('abcd') });
    expect(sink.text).toBe('abcd');
    expect(sink.events[sink.events.length - 1]).toBe('[DONE]');
  });

  it('fails when what was sent is not a prefix of the final text after a loss', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply(chunk(0, 'a'));
    relay.onReply(chunk(2, 'c'));
    relay.onReply({ t: 'end', jobId, result: result('xyz') });
    expect((sink.events[sink.events.length - 1] as { error: { code: string } }).error.code).toBe('internal_error');
    expect(sink.events).not.toContain('[DONE]');
  });

  it('a run taken over after a worker died is not spliced onto the dead run: an error event unless it extends it', () => {
    const rerun: ReplyMessage = { ...start, run: 2 };
    const differs = setup();
    differs.relay.onReply(start);
    differs.relay.onReply(chunk(0, 'first '));
    differs.relay.onReply(chunk(1, 'run '));
    differs.relay.onReply(rerun);
    // The new run streams from seq 0 again: none of it may continue the dead run's text.
    differs.relay.onReply(chunk(0, 'second '));
    differs.relay.onReply(chunk(1, 'run '));
    differs.relay.onReply(chunk(2, 'goes on'));
    differs.relay.onReply({ t: 'end', jobId, result: result('second run goes on') });
    expect(differs.sink.text).toBe('first run ');
    const last = differs.sink.events[differs.sink.events.length - 1] as { error: { code: string } };
    expect(last.error.code).toBe('internal_error');
    expect(differs.sink.events).not.toContain('[DONE]');

    // The same answer again (a deterministic model): completed from its final text.
    const same = setup();
    same.relay.onReply(start);
    same.relay.onReply(chunk(0, 'same '));
    same.relay.onReply(rerun);
    same.relay.onReply(chunk(0, 'same '));
    same.relay.onReply(chunk(1, 'text'));
    same.relay.onReply({ t: 'end', jobId, result: result('same text') });
    expect(same.sink.text).toBe('same text');
    expect(same.sink.events[same.sink.events.length - 1]).toBe('[DONE]');

    // The dead run had sent tool-call fragments: nothing of the new run's answer can follow them.
    const tools = setup();
    tools.relay.onReply(start);
    tools.relay.onReply({ t: 'chunk', jobId, seq: 0, text: '', toolCalls: [{ index: 0, id: 'c', name: 'f' }] });
    tools.relay.onReply(rerun);
    tools.relay.onReply({ t: 'end', jobId, result: result('plain text instead') });
    expect(tools.sink.text).toBe('');
    expect((tools.sink.events.at(-1) as { error: { code: string } }).error.code).toBe('internal_error');

    // A start repeated by the same run (a coalesced follower reads it from the log and live) changes nothing.
    const repeated = setup();
    repeated.relay.onReply(start);
    repeated.relay.onReply(chunk(0, 'a'));
    repeated.relay.onReply(start);
    repeated.relay.onReply(chunk(1, 'b'));
    repeated.relay.onReply({ t: 'end', jobId, result: result('ab') });
    expect(repeated.sink.text).toBe('ab');
    expect(repeated.sink.events[repeated.sink.events.length - 1]).toBe('[DONE]');
  });

  it('trusts chunks that all arrived in order when the final text merely differs', () => {
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply(chunk(0, 'answer  '));
    relay.onReply({ t: 'end', jobId, result: result('answer') });
    expect(sink.text).toBe('answer  ');
    expect(sink.events[sink.events.length - 1]).toBe('[DONE]');
  });

  it("names a follower's tool calls by its own ids, the same in its fragments and in calls sent whole", () => {
    const relayOf = (ids: FreshToolCallIds, sink: RecordingSink) =>
      new StreamRelay({
        jobId,
        deadlineAt: Date.now() + 60_000,
        firstCheckMs: 2000,
        checkEveryMs: 1000,
        onAbandon: () => undefined,
        sink,
        encoder: openAiStream(false),
        cache: 'miss',
        onEnd: () => undefined,
        serve: (r) => ({ ...r, toolCalls: ids.calls(r.toolCalls ?? []) }),
        serveToolCalls: (pieces) => ids.deltas(pieces),
      });
    const leaderId = 'call_0123456789abcdef01234567';
    const done = {
      ...result(''),
      finishReason: 'tool_calls',
      toolCalls: [{ id: leaderId, type: 'function' as const, function: { name: 'f', arguments: '{}' } }],
    };
    const toolIdsOf = (sink: RecordingSink): string[] =>
      sink.events
        .flatMap(
          (e) =>
            (e as { choices?: { delta?: { tool_calls?: { id?: string }[] } }[] }).choices?.[0]?.delta?.tool_calls ?? [],
        )
        .flatMap((c) => c.id ?? []);

    // Streamed in fragments: the first names the call.
    const streamed = new FreshToolCallIds();
    const liveSink = new RecordingSink();
    const live = relayOf(streamed, liveSink);
    live.onReply(start);
    live.onReply({ t: 'chunk', jobId, seq: 0, text: '', toolCalls: [{ index: 0, id: leaderId, name: 'f' }] });
    live.onReply({ t: 'chunk', jobId, seq: 1, text: '', toolCalls: [{ index: 0, arguments: '{}' }] });
    live.onReply({ t: 'end', jobId, result: done });
    const [fresh] = toolIdsOf(liveSink);
    expect(fresh).toMatch(/^call_[0-9a-f]{24}$/);
    expect(fresh).not.toBe(leaderId);
    expect(streamed.of(leaderId)).toBe(fresh);

    // The fragments lost (only the end came): the calls go whole, by the ids the served answer has.
    const whole = new FreshToolCallIds();
    const lateSink = new RecordingSink();
    const late = relayOf(whole, lateSink);
    late.onReply({ t: 'end', jobId, result: done });
    expect(toolIdsOf(lateSink)).toEqual([whole.of(leaderId)]);
    expect(whole.of(leaderId)).not.toBe(leaderId);
  });

  it('opens and answers from a stored result when every message was lost', async () => {
    const { sink, relay } = setup();
    relay.onSnapshot({ state: 'running' });
    expect(sink.headers).toBeNull();
    relay.onSnapshot({ state: 'completed', outcome: { ok: true, result: result('stored') } });
    await relay.started;
    expect(sink.text).toBe('stored');
    expect(sink.events[sink.events.length - 1]).toBe('[DONE]');
  });

  it('ends a stream whose final answer came as `stored` like one that came as `end`: tool calls relayed stand', () => {
    const toolCalls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
    const answer = { ...result('ok'), toolCalls };
    const ended = (stored: boolean): unknown => {
      const { sink, relay } = setup();
      relay.onReply(start);
      relay.onReply({ t: 'chunk', jobId, seq: 0, text: 'ok', toolCalls: [{ index: 0, id: 'call_1', name: 'f' }] });
      if (stored) {
        relay.onReply({ t: 'stored', jobId });
      }
      relay.onSnapshot({ state: 'completed', outcome: { ok: true, result: answer } });
      return sink.events[sink.events.length - 1];
    };
    expect(ended(true)).toBe('[DONE]');
    // Without it, a read-back answering a stream means its end was lost, maybe more: the fragments that went out are
    // checked against the final calls, and what they lack follows.
    expect(ended(false)).toBe('[DONE]');
  });

  it('completes a tool call whose last fragment was lost before a `stored` end, by the count it carries', () => {
    const toolCalls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } }];
    const { sink, relay } = setup();
    relay.onReply(start);
    relay.onReply({ t: 'chunk', jobId, seq: 0, text: 'ok', toolCalls: [{ index: 0, id: 'call_1', name: 'f' }] });
    relay.onReply({ t: 'chunk', jobId, seq: 1, text: '', toolCalls: [{ index: 0, arguments: '{"a"' }] });
    // seq 2 (':1}') lost; nothing after it shows the gap but the count.
    relay.onReply({ t: 'stored', jobId, chunks: 3 });
    relay.onSnapshot({ state: 'completed', outcome: { ok: true, result: { ...result('ok'), toolCalls } } });
    const args = sink.events
      .flatMap(
        (e) =>
          (e as { choices?: { delta?: { tool_calls?: { function: { arguments?: string } }[] } }[] }).choices?.[0]?.delta
            ?.tool_calls ?? [],
      )
      .map((f) => f.function.arguments ?? '')
      .join('');
    expect(args).toBe('{"a":1}');
    expect(sink.events.at(-1)).toBe('[DONE]');
  });

  describe('tool calls of a stream that may have lost messages (a gap, a read-back end, a dropped subscriber)', () => {
    const call = (id: string, args: string) => ({
      id,
      type: 'function' as const,
      function: { name: 'f', arguments: args },
    });
    const argsOf = (events: unknown[], index: number): string =>
      events
        .flatMap(
          (e) => (e as { choices?: { delta?: { tool_calls?: unknown[] } }[] }).choices?.[0]?.delta?.tool_calls ?? [],
        )
        .filter((t) => (t as { index: number }).index === index)
        .map((t) => (t as { function?: { arguments?: string } }).function?.arguments ?? '')
        .join('');
    /** Fragments for call 0 (`a0`, the rest after the last one) and call 1 (`a1`), then the subscriber drops. */
    function dropped(
      fragments: { index: number; id?: string; arguments: string }[],
      finals: ReturnType<typeof call>[],
    ) {
      const { sink, relay } = setup();
      relay.onReply(start);
      fragments.forEach((f, seq) =>
        relay.onReply({ t: 'chunk', jobId, seq, text: '', toolCalls: [{ name: 'f', ...f }] }),
      );
      relay.repliesMayBeLost();
      relay.onReply({ t: 'end', jobId, result: { ...result(''), toolCalls: finals } });
      return sink.events;
    }

    it('sends the rest of the last call that went out, and the calls after it whole', () => {
      const events = dropped(
        [
          { index: 0, id: 'c0', arguments: '{"a":1}' },
          { index: 1, id: 'c1', arguments: '{"b":' },
        ],
        [call('c0', '{"a":1}'), call('c1', '{"b":2}'), call('c2', '{}')],
      );
      expect(events.at(-1)).toBe('[DONE]');
      expect([argsOf(events, 0), argsOf(events, 1), argsOf(events, 2)]).toEqual(['{"a":1}', '{"b":2}', '{}']);
    });

    it('ends in an error when what went out cannot be completed', () => {
      const notResumable = { error: { code: ErrorCode.Internal } };
      // An earlier call cut short (a client in Anthropic's format closed its block).
      expect(
        dropped(
          [
            { index: 0, id: 'c0', arguments: '{"a":' },
            { index: 1, id: 'c1', arguments: '{}' },
          ],
          [call('c0', '{"a":1}'), call('c1', '{}')],
        ).at(-1),
      ).toMatchObject(notResumable);
      // Arguments the final ones do not start with, another id.
      expect(dropped([{ index: 0, id: 'c0', arguments: '{"x"' }], [call('c0', '{"a":1}')]).at(-1)).toMatchObject(
        notResumable,
      );
      expect(dropped([{ index: 0, id: 'c0', arguments: '' }], [call('c9', '{}')]).at(-1)).toMatchObject(notResumable);
    });

    it('stands as it went out when nothing was lost', () => {
      const events = dropped([{ index: 0, id: 'c0', arguments: '{}' }], [call('c0', '{}')]);
      expect(events.at(-1)).toBe('[DONE]');
      expect(argsOf(events, 0)).toBe('{}');
    });
  });

  it("carries a refusal the client did not get streamed: a whole answer's (a replay), or the rest of a cut one", async () => {
    const refusalOf = (events: unknown[]): string =>
      events
        .map((e) => (e as { choices?: { delta?: { refusal?: string } }[] }).choices?.[0]?.delta?.refusal ?? '')
        .join('');
    const refused = { ...result(''), refusal: "I can't help with that." };
    // An Idempotency-Key replay, or a stream whose messages were all lost: the answer comes whole.
    const whole = setup();
    whole.relay.onReply({ t: 'result', jobId, result: refused });
    await whole.relay.started;
    expect(refusalOf(whole.sink.events)).toBe("I can't help with that.");
    expect(whole.sink.events[whole.sink.events.length - 1]).toBe('[DONE]');
    // Streamed in pieces, one lost behind a gap: the rest follows once, nothing twice.
    const cut = setup();
    cut.relay.onReply(start);
    cut.relay.onReply({ t: 'chunk', jobId, seq: 0, text: '', refusal: "I can't" });
    cut.relay.onReply({ t: 'end', jobId, result: refused });
    expect(refusalOf(cut.sink.events)).toBe("I can't help with that.");
    // Streamed whole: nothing added. A cache hit replays it once.
    const streamed = setup();
    streamed.relay.onReply(start);
    streamed.relay.onReply({ t: 'chunk', jobId, seq: 0, text: '', refusal: "I can't help with that." });
    streamed.relay.onReply({ t: 'end', jobId, result: refused });
    expect(refusalOf(streamed.sink.events)).toBe("I can't help with that.");
    const hit = setup();
    hit.relay.replay(refused);
    expect(refusalOf(hit.sink.events)).toBe("I can't help with that.");
  });

  it('answers the deadline with 504 before the start, an error event after it, and abandons the job', async () => {
    const before = setup();
    before.relay.onDeadline();
    expect(((await before.relay.started.catch((e: unknown) => e)) as GatewayError).code).toBe(ErrorCode.Timeout);
    expect(before.abandoned).toEqual(['deadline']);

    const after = setup();
    after.relay.onReply(start);
    after.relay.onDeadline();
    expect((after.sink.events[after.sink.events.length - 1] as { error: { code: string } }).error.code).toBe('timeout');
    expect(after.abandoned).toEqual(['deadline']);
  });

  it('abandons the job once when the client goes away, and ignores later messages', () => {
    const { sink, relay, abandoned } = setup();
    relay.onReply(start);
    relay.abandon('client_disconnected');
    relay.abandon('client_disconnected');
    relay.onReply(chunk(0, 'late'));
    relay.onDeadline();
    expect(abandoned).toEqual(['client_disconnected']);
    expect(sink.text).toBe('');
  });

  it('detaches from the hub exactly once', () => {
    const { relay } = setup();
    const detach = jest.fn();
    relay.watchedBy(detach);
    relay.onReply(start);
    relay.onReply({ t: 'end', jobId, result: result('') });
    relay.abandon('client_disconnected');
    expect(detach).toHaveBeenCalledTimes(1);
  });
});
