import { merged, noop } from '@aigw/core';
import type { ReplyMessage, ReplyPiece, StreamDelta } from '@aigw/core';
import {
  flushTurn,
  releaseInFlight,
  type InFlightNames,
  type LocalReplies,
  type LocalReplySender,
} from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { StreamObserver, StreamStart } from '../generation/stream-observer';
import { cutPiece } from './piece-cut';
import { finalReplyJson, type ResultJson } from './result-json';

/** Where a coalesced job's replies are mirrored for the requests that joined it (ADR 0007). */
export interface ReplyMirror {
  names: InFlightNames;
  /** TTL of the mirrored log, from the job's deadline. */
  ttlMs: number;
}

export interface ReplyChannelOptions {
  /** Set for a coalesced job. */
  mirror?: ReplyMirror | null;
  /** The gateways of this process, when the worker runs in one (ADR 0010). */
  local?: LocalReplies | null;
  /** The job's `batchChunks`: the gateway reads `chunks` messages. */
  batchChunks?: boolean;
  /** The job's run (`attemptsStarted`): a `start` of a run after the first says so. */
  run?: number;
  /**
   * Called once when the reply channel has had no subscriber for UNHEARD_MS before the job's final message: the
   * gateway that waited is gone (killed, so no cancel came), and nobody reads the rest of the answer. Judged from the
   * replies of the PUBLISHes sent anyway (no extra round trip); a coalesced job's followers listen on its own channel
   * (its mirror), so it counts as heard while either channel reaches somebody. Never for a gateway in this process.
   */
  onUnheard?: () => void;
}

/**
 * How long PUBLISHes to a job's reply channel must all have reached nobody before its gateway counts as gone. Longer
 * than a live gateway's reply subscriber takes to reconnect and subscribe again (it reads the job back then, and a
 * stream goes on): a drop, a Redis restart with the worker's publishes sent first.
 */
export const UNHEARD_MS = 10_000;

/**
 * The longest message published whole, in UTF-16 code units of its JSON (`string.length`, read for free; at most 3
 * bytes each in UTF-8, so at most 3 MiB). Redis drops a subscriber whose pending output passes
 * `client-output-buffer-limit pubsub` (32 MB at once, or 8 MB for 60 s, by default): one reply over it (a batch of
 * 2,048 embeddings of 3,072 dimensions is over 100 MB of JSON) cost the gateway its reply subscriber, that reply and
 * the messages of every other request until it reconnected. A final message over this travels as `stored` (the
 * gateway reads the kept outcome, one round trip); a `chunks` message over it as one `chunk` per piece, and a piece
 * over it cut into `chunk`s of slices of its fields (`cutPiece`, seqs renumbered on): nothing of a stream is left out
 * but a field that cannot be cut (logprobs, a signature, a redacted block) over it on its own. Below it, nothing
 * changes.
 */
export const REPLY_PUBLISH_MAX_CHARS = 1 << 20;

/** Code units per slice of a cut piece: escaped at worst (6 characters a unit, `\u0000`), still well under the limit. */
const SLICE_CHARS = REPLY_PUBLISH_MAX_CHARS >> 3;

/**
 * Publishes one job's replies on the gateway's reply channel. Messages are not awaited one by one: they all go
 * through one connection, which keeps their order, and its per-turn cork batches a stream's chunks. A job with no
 * reply channel (async job) publishes nothing.
 *
 * With `batchChunks`, the deltas that arrive in one turn (one provider read often holds many) leave as one `chunks`
 * message at the end of the turn's callbacks (`process.nextTick`): one serialisation and one PUBLISH instead of one
 * per delta, for the worker, Redis and the gateway. A lone delta still leaves as a `chunk`, so a stream whose deltas
 * arrive one per read looks as before. Any other message first sends what is pending, so the order holds.
 *
 * The first delta after `start` is the stream's first content, which the gateway held the SSE head for: it leaves at
 * once as a `chunk`, and the connection's per-turn cork is flushed behind it (`flushTurn`). A short answer read in
 * one piece otherwise left only at the end of the turn, after its whole result was built, its outcome kept and its
 * job completed: the client's first event waited for all of it. The deltas after it batch as above.
 *
 * A coalesced job also mirrors every message for its followers: appended to the job's log (a late joiner replays
 * it from the start), then published on the job's own channel, in that order, so that a follower that subscribes
 * and then reads the log misses nothing. Its final message first ends the in-flight marker.
 *
 * When the waiting gateway is in this process (`local` knows its channel, ADR 0010), the messages are handed to it
 * in memory, unserialised, instead of published; the mirror still goes through Redis for followers elsewhere.
 * Messages are built here and never changed after `send`, which is what makes sharing them safe.
 *
 * A final message over REPLY_PUBLISH_MAX_CHARS is held: `settle` publishes `stored` in its place once the job's outcome
 * is kept, so that the gateway reading it back finds the answer.
 */
export class ReplyChannel implements StreamObserver {
  private seq = 0;
  private last: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private mirrored = false;
  private readonly inProcess: LocalReplySender | null;
  private readonly mirror: ReplyMirror | null;
  private readonly batchChunks: boolean;
  private readonly run: number;
  /** Deltas of this turn not sent yet (batchChunks), and the seq of the first. */
  private pending: ReplyPiece[] | null = null;
  private pendingSeq = 0;
  /** `start` went out and no delta since: the next is the stream's first content, sent at once (`onChunk`). */
  private firstContentNext = false;
  /** A final message too big to publish was held: `stored` goes out once the outcome is kept (see `settle`). */
  private finalHeld = false;
  /** A final message went out: what follows is no reader's concern. */
  private ended = false;
  /** When a PUBLISH reply first said nobody received it, since the last one that reached the gateway. */
  private unheardSince: number | null = null;
  private onUnheard: (() => void) | null;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string | null,
    private readonly jobId: string,
    opts: ReplyChannelOptions = {},
  ) {
    this.mirror = opts.mirror ?? null;
    this.batchChunks = opts.batchChunks === true;
    this.run = opts.run ?? 1;
    this.inProcess = channel === null ? null : (opts.local?.senderTo(channel) ?? null);
    this.onUnheard = channel !== null && this.inProcess === null ? (opts.onUnheard ?? null) : null;
  }

  send(message: ReplyMessage): void {
    this.flushPending();
    this.post(this.counted(message));
  }

  /** The job's answer: `result` (a sync answer) or `end` (a stream's), the result's JSON made once (`ResultJson`). */
  sendResult(t: 'result' | 'end', result: ResultJson): void {
    this.flushPending();
    this.post(this.counted({ t, jobId: this.jobId, result: result.result }), result);
  }

  /**
   * A stream's end with the count of chunks that went out: a gateway that lost the last ones sees it (no later chunk
   * shows a gap). Once per stream; a new object, since a message is never changed after it is handed over.
   */
  private counted(message: ReplyMessage): ReplyMessage {
    return message.t === 'end' && this.seq > 0 ? merged(message, { chunks: this.seq }) : message;
  }

  onStart(head: StreamStart & { attempts: number }): void {
    const start: ReplyMessage = { t: 'start', jobId: this.jobId, ...head };
    if (this.run > 1) {
      start.run = this.run;
    }
    this.send(start);
    this.firstContentNext = true;
  }

  onChunk(delta: StreamDelta): void {
    if (this.channel === null) {
      return;
    }
    const piece = pieceOf(delta);
    if (this.firstContentNext) {
      this.firstContentNext = false;
      this.flushPending();
      this.post(chunkMessage(this.jobId, this.seq++, piece));
      flushTurn(this.redis);
      return;
    }
    if (!this.batchChunks) {
      this.post(chunkMessage(this.jobId, this.seq++, piece));
      return;
    }
    if (this.pending === null) {
      this.pending = [];
      this.pendingSeq = this.seq;
      process.nextTick(this.flushPending);
    }
    this.pending.push(piece);
    this.seq++;
  }

  private readonly flushPending = (): void => {
    const pieces = this.pending;
    if (pieces === null) {
      return;
    }
    this.pending = null;
    this.post(
      pieces.length === 1
        ? chunkMessage(this.jobId, this.pendingSeq, pieces[0])
        : { t: 'chunks', jobId: this.jobId, seq: this.pendingSeq, pieces },
    );
  };

  /** `result`: set for a `result` or `end` message (`sendResult`), whose result it holds. */
  private post(message: ReplyMessage, result?: ResultJson): void {
    const channel = this.channel;
    if (channel === null) {
      return;
    }
    if (message.t === 'result' || message.t === 'end' || message.t === 'error') {
      this.ended = true;
    }
    const inProcess = this.inProcess;
    if (inProcess !== null && this.mirror === null) {
      // Handed over in memory: never serialised, any size.
      inProcess(message);
      return;
    }
    const payload =
      result !== undefined && (message.t === 'result' || message.t === 'end')
        ? finalReplyJson(message.t, this.jobId, result, message.t === 'end' ? message.chunks : undefined)
        : JSON.stringify(message);
    if (payload.length > REPLY_PUBLISH_MAX_CHARS) {
      this.postOversized(message);
      return;
    }
    this.deliver(message, payload);
  }

  /** A message within the limit, `payload` its JSON: mirrored, then handed over in memory or published. */
  private deliver(message: ReplyMessage, payload: string): void {
    const channel = this.channel;
    if (channel === null) {
      return;
    }
    const inProcess = this.inProcess;
    if (this.mirror !== null) {
      this.mirrorMessage(this.mirror, message, payload);
    }
    if (inProcess !== null) {
      inProcess(message);
      return;
    }
    const published = this.redis.publish(channel, payload);
    this.last = (this.onUnheard === null ? published : published.then(this.heard)).catch(this.failed);
  }

  /** A PUBLISH's reply: how many subscribers got the message (see `onUnheard`). */
  private readonly heard = (receivers: number): void => {
    if (receivers > 0) {
      this.unheardSince = null;
      return;
    }
    const now = Date.now();
    this.unheardSince ??= now;
    const onUnheard = this.onUnheard;
    if (onUnheard !== null && !this.ended && now - this.unheardSince >= UNHEARD_MS) {
      this.onUnheard = null;
      onUnheard();
    }
  };

  /**
   * A message over REPLY_PUBLISH_MAX_CHARS (see there). A stream's pieces go one `chunk` each, a piece too big on its
   * own cut in slices; the seqs the slices take push every later chunk's on (`this.seq`), so the gateway sees no gap.
   * A slice still over the limit (a field that cannot be cut) is left out, its seq unused: a gap the gateway sees if
   * a chunk follows. A final message is held (`settle`); a gateway in this process still gets it whole.
   */
  private postOversized(message: ReplyMessage): void {
    if (message.t === 'chunk' || message.t === 'chunks') {
      const pieces = message.t === 'chunks' ? message.pieces : [pieceOfChunk(message)];
      let seq = message.seq;
      for (const piece of pieces) {
        const whole = chunkMessage(this.jobId, seq, piece);
        const payload = JSON.stringify(whole);
        if (payload.length <= REPLY_PUBLISH_MAX_CHARS) {
          this.deliver(whole, payload);
          seq++;
          continue;
        }
        for (const part of cutPiece(piece, SLICE_CHARS)) {
          const chunk = chunkMessage(this.jobId, seq++, part);
          const json = JSON.stringify(chunk);
          if (json.length <= REPLY_PUBLISH_MAX_CHARS) {
            this.deliver(chunk, json);
          }
        }
      }
      this.seq += seq - message.seq - pieces.length;
      return;
    }
    this.inProcess?.(message);
    if (message.t === 'result' || message.t === 'end' || message.t === 'error') {
      this.finalHeld = true;
    }
  }

  /** In place of a final message too big to publish, once the job's outcome is kept: the gateway reads it there. */
  private postStored(): void {
    const stored: ReplyMessage =
      this.seq > 0 ? { t: 'stored', jobId: this.jobId, chunks: this.seq } : { t: 'stored', jobId: this.jobId };
    const payload = JSON.stringify(stored);
    if (this.mirror !== null) {
      this.mirrorMessage(this.mirror, stored, payload);
    }
    if (this.inProcess === null && this.channel !== null) {
      this.last = this.redis.publish(this.channel, payload).catch(this.failed);
    }
  }

  private mirrorMessage(mirror: ReplyMirror, message: ReplyMessage, payload: string): void {
    const { names } = mirror;
    if (message.t !== 'start' && message.t !== 'chunk' && message.t !== 'chunks') {
      // Identical requests arriving from now on start a job of their own (those that joined have the log).
      void releaseInFlight(this.redis, names, this.jobId).catch(this.failed);
    }
    void this.redis.rpush(names.log, payload).catch(this.failed);
    if (!this.mirrored) {
      this.mirrored = true;
      void this.redis.pexpire(names.log, mirror.ttlMs).catch(this.failed);
    }
    const published = this.redis.publish(names.channel, payload);
    void (this.onUnheard === null ? published : published.then(this.heard)).catch(this.failed);
  }

  private readonly failed = (err: unknown): void => {
    this.failure ??= err;
  };

  /**
   * Waits until Redis took every message (one handed over in memory counts as taken); returns the first publish
   * failure, if any. `outcomeKept`: the job's outcome is in Redis, where `stored` sends the gateway (if it never is,
   * `stored` is not sent: the job runs again).
   */
  async settle(outcomeKept: Promise<unknown> = Promise.resolve()): Promise<unknown> {
    this.flushPending();
    if (this.finalHeld) {
      this.finalHeld = false;
      await outcomeKept.then(() => this.postStored(), noop);
    }
    await this.last;
    return this.failure;
  }
}

/** A delta as relayed: only the fields a piece carries (its id and usage travel in `start` and the final result). */
function pieceOf(delta: StreamDelta): ReplyPiece {
  const piece: ReplyPiece = { text: delta.text };
  if (delta.finishReason !== undefined) {
    piece.finishReason = delta.finishReason;
  }
  if (delta.toolCalls !== undefined) {
    piece.toolCalls = delta.toolCalls;
  }
  if (delta.reasoning !== undefined) {
    piece.reasoning = delta.reasoning;
  }
  if (delta.reasoningSignature !== undefined) {
    piece.reasoningSignature = delta.reasoningSignature;
  }
  if (delta.redactedReasoning !== undefined) {
    piece.redactedReasoning = delta.redactedReasoning;
  }
  if (delta.refusal !== undefined) {
    piece.refusal = delta.refusal;
  }
  if (delta.logprobs !== undefined) {
    piece.logprobs = delta.logprobs;
  }
  if (delta.citations !== undefined) {
    piece.citations = delta.citations;
  }
  if (delta.searchResults !== undefined) {
    piece.searchResults = delta.searchResults;
  }
  if (delta.annotations !== undefined) {
    piece.annotations = delta.annotations;
  }
  return piece;
}

/** The piece a `chunk` message carries. */
function pieceOfChunk(message: Extract<ReplyMessage, { t: 'chunk' }>): ReplyPiece {
  const { t: _t, jobId: _jobId, seq: _seq, ...piece } = message;
  return piece;
}

/** One piece as a `chunk` message (field order as before: t, jobId, seq, text, …). */
function chunkMessage(jobId: string, seq: number, piece: ReplyPiece): ReplyMessage {
  // One Object.assign, not a spread with fields added (slow on Node 20: libs/core objects.ts).
  return Object.assign({ t: 'chunk' as const, jobId, seq }, piece);
}
