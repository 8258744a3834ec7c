import {
  ErrorCode,
  GatewayError,
  hasLogprobEntries,
  type ErrorBody,
  type GenerationResult,
  type JsonValue,
  type ReplyMessage,
  type ReplyPiece,
  type ToolCall,
  type ToolCallDelta,
  merged,
  noop,
} from '@aigw/core';
import { gatewayHeaders, type CacheStatus } from '../http/result-headers';
import { ChunkSequencer } from './chunk-sequencer';
import { settlementOf, type JobSnapshot } from './job-snapshot';
import { clientGoneError, ReplyWaiter, type AbandonReason, type WaiterOptions } from './reply-waiter';

/** The sources a piece (or a whole answer) may carry: Perplexity's citations and search results, annotations. */
export type AnswerSources = Pick<ReplyPiece, 'citations' | 'searchResults' | 'annotations'>;

/** Whether `s` carries any sources: three field checks. */
function hasSources(s: AnswerSources): boolean {
  return s.citations !== undefined || s.searchResults !== undefined || s.annotations !== undefined;
}

/** Where SSE goes. `open` sends the status line and headers; nothing is sent before it. */
export interface StreamSink {
  open(headers: Record<string, string>): void;
  write(data: string): void;
  end(): void;
}

/**
 * Serialises one relayed stream in a client's wire format (OpenAI chunks, Anthropic events). Each method returns
 * the SSE text to write (possibly several events, possibly none).
 */
export interface StreamEncoder {
  /** The events that open the stream, once it starts. */
  start(): string;
  reasoning(text: string): string;
  /** Ends the thinking block whose text `reasoning` carried since the last one ended, with the provider's signature. */
  thinkingSignature(signature: string): string;
  /** A whole `redacted_thinking` block (reasoning the provider sent encrypted). */
  redactedThinking(data: string): string;
  /** `logprobs`: the provider's for this text, when the client asked for them (formats without them ignore it). */
  content(text: string, logprobs?: JsonValue): string;
  refusal(text: string, logprobs?: JsonValue): string;
  /** Logprobs that came without text (a token that is part of a character): formats without them send nothing. */
  logprobs(logprobs: JsonValue): string;
  toolCalls(pieces: readonly ToolCallDelta[]): string;
  /** Whole tool calls, for a stream whose fragments were lost. */
  wholeToolCalls(calls: readonly ToolCall[]): string;
  /**
   * The answer's sources, where the provider's format put them (OpenAI's: top-level `citations`, `search_results`,
   * `annotations` on the delta); formats without a place for them send nothing.
   */
  sources(sources: AnswerSources): string;
  /** Everything after the last piece (finish reason, usage, end marker); `finishReason` in OpenAI's vocabulary. */
  end(result: GenerationResult, finishReason: string): string;
  /** The event that ends a stream that failed after it started. */
  error(error: ErrorBody): string;
  /** What keeps a quiet stream alive (an SSE comment, a ping event): nothing a client reads as part of the answer. */
  keepAlive(): string;
}

/** What the SSE head needs: the `start` message, or a result when the start was lost. */
export type StreamHead = Pick<
  Extract<ReplyMessage, { t: 'start' }>,
  | 'id'
  | 'created'
  | 'systemFingerprint'
  | 'serviceTier'
  | 'provider'
  | 'model'
  | 'route'
  | 'attempts'
  | 'promptTokens'
  | 'cachedPromptTokens'
  | 'cacheWritePromptTokens'
>;

export type StreamEncoderFactory = (head: StreamHead) => StreamEncoder;

export interface StreamRelayOptions extends WaiterOptions {
  sink: StreamSink;
  encoder: StreamEncoderFactory;
  /** The `x-gateway-cache` header of the stream. */
  cache: CacheStatus;
  /**
   * The answer as this request's, when it is somebody else's (a coalesced follower's): applied before it ends, and
   * before the relay knows whether it ends in it (a stream that cannot be resumed ends in an error): no side effects,
   * an answer is accounted in `onEnd`.
   */
  serve?: (result: GenerationResult) => GenerationResult;
  /** Likewise the stream's head (its completion id, created, attempts): applied before the stream opens. */
  serveHead?: (head: StreamHead) => StreamHead;
  /**
   * Likewise each tool-call fragment (the id in a call's first one), as `serve` names the calls in the end: applied
   * before the fragment is written.
   */
  serveToolCalls?: (pieces: readonly ToolCallDelta[]) => readonly ToolCallDelta[];
  /** Called once when the relay ends: with the result, or with the error that ended it. */
  onEnd: (outcome: { result: GenerationResult } | { error: GatewayError }) => void;
  /**
   * Once the stream is open, a keep-alive (`StreamEncoder.keepAlive`) goes out when nothing was written for this
   * long (SSE_KEEPALIVE_MS); 0 or absent: never.
   */
  keepAliveMs?: number;
}

/**
 * Relays a streamed job as SSE in the client's format (the encoder's). Nothing is sent until the `start` message, so a failure
 * before the first token is an ordinary HTTP error (`started` rejects). Once started, the stream
 * always ends with `data: [DONE]` or an error event. Chunks are emitted strictly in `seq` order; when
 * one was lost, the final text (from `end` or the stored result) fills in what the client missed.
 */
export class StreamRelay extends ReplyWaiter {
  /** Resolves once the SSE response is open; rejects with the error to answer instead. */
  readonly started: Promise<void>;
  private resolveStarted!: () => void;
  private rejectStarted!: (e: GatewayError) => void;
  private phase: 'waiting' | 'streaming' = 'waiting';
  private fmt: StreamEncoder | null = null;
  private readonly sequencer = new ChunkSequencer<ReplyPiece>();
  private readonly sent: string[] = [];
  private sentLength = 0;
  /** The refusal text relayed so far (OpenAI's `refusal` deltas; Anthropic's format makes it the text): short, rare. */
  private refusalSent = '';
  private lastFinishReason: string | null = null;
  /** Whether any sources (citations, search results, annotations) went out. */
  private sourcesSent = false;
  /** Whether any reasoning (text, signature, redacted block) went out. */
  private reasoningSent = false;
  /** Tool-call fragments relayed. */
  private toolFragmentsSent = 0;
  /**
   * What went out of each tool call, by index (the served id of its first fragment, its arguments' fragments,
   * joined only when the end must be checked against them): what a suspect stream's end completes (`toolCallsRest`).
   */
  private readonly toolsSent: { id: string | undefined; args: string[] }[] = [];
  /** Something may have been lost (a gap, or chunks before a lost start): check against the final text. */
  private suspect = false;
  /**
   * The connection replies come on closed meanwhile (`repliesMayBeLost`): a tool-call fragment may be lost with no
   * gap to show it. Only the tool calls are checked for it: a lost text is filled in from the final text anyway.
   */
  private linkLost = false;
  /** The worker said the final answer is in the kept outcome (`stored`): its read-back is the `end`, not a loss. */
  private endStored = false;
  /** The run (`start.run`) whose stream is relayed; a `start` of another run is a takeover after a worker died. */
  private run = 1;
  private rerun = false;
  private readonly emit = (p: ReplyPiece): void => this.emitPiece(p);
  /** SSE gathered while a `chunks` message is relayed, written at once; null: write each event as it comes. */
  private gathered: string | null = null;
  /** `performance.now()` of the last write to the sink, and the timer that keeps a quiet open stream alive. */
  private wroteAt = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly relay: StreamRelayOptions) {
    super(relay);
    this.started = new Promise<void>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // The controller awaits `started` after other awaits; an early rejection is not unhandled.
    this.started.catch(noop);
  }

  /** The SSE response is open: a failure now is an error event, no longer an HTTP error. */
  get opened(): boolean {
    return this.phase === 'streaming';
  }

  override get missedReplies(): boolean {
    return this.suspect || this.sequencer.hasGap;
  }

  override repliesMayBeLost(): void {
    this.linkLost = true;
  }

  onReply(msg: ReplyMessage): void {
    if (this.done) {
      return;
    }
    switch (msg.t) {
      case 'start':
        if (this.phase === 'streaming' && (msg.run ?? 1) !== this.run) {
          // A worker took the job over: its run streams a generation of its own from the start. Nothing more of
          // it is relayed; its final text completes the stream only if it extends what was sent.
          this.rerun = true;
          this.suspect = true;
          return;
        }
        this.run = msg.run ?? 1;
        this.open(msg);
        return;
      case 'chunk':
        if (this.phase === 'waiting') {
          this.suspect = true;
          return;
        }
        if (!this.rerun) {
          this.sequencer.accept(msg.seq, msg, this.emit);
        }
        return;
      case 'chunks':
        if (!this.rerun) {
          this.relayPieces(msg.seq, msg.pieces);
        }
        return;
      case 'end':
        this.expectChunks(msg.chunks);
        this.complete(msg.result);
        return;
      case 'result':
        this.complete(msg.result);
        return;
      case 'error':
        this.fail(GatewayError.fromBody(msg.error, msg.retryAfterMs));
        return;
      case 'stored':
        // The final answer is in the kept outcome, too big to publish: the hub reads it back (`onSnapshot`).
        this.endStored = true;
        this.expectChunks(msg.chunks);
        return;
    }
  }

  /**
   * The worker's count of the chunks it sent, from its final message (absent from an older worker): fewer came, and
   * no later chunk showed the gap (the stream's last ones were lost), so the end is checked against what was sent.
   */
  private expectChunks(chunks: number | undefined): void {
    if (chunks !== undefined && this.sequencer.emitted < chunks) {
      this.suspect = true;
    }
  }

  onSnapshot(snapshot: JobSnapshot): void {
    if (this.done) {
      return;
    }
    const s = settlementOf(snapshot);
    if (!s.done) {
      return;
    }
    if ('result' in s) {
      if (!this.endStored) {
        // Reaching here means the reply channel lost at least the `end` message.
        this.suspect = true;
      }
      this.complete(s.result);
    } else {
      this.fail(s.error);
    }
  }

  abandon(reason: AbandonReason): void {
    if (this.done) {
      return;
    }
    const err = clientGoneError();
    if (this.phase === 'streaming') {
      this.relay.sink.end();
    }
    this.finish();
    this.rejectStarted(err);
    this.abandonJob(reason);
    this.relay.onEnd({ error: err });
  }

  /**
   * Replays a whole answer (a response cache hit) as a stream: opened, reasoning (each signed block as streamed),
   * refusal and text in one piece each, ended.
   */
  replay(result: GenerationResult): void {
    this.open(headOf(result));
    this.emitReasoningOf(result);
    this.complete(result);
  }

  /** A whole answer's reasoning as a stream carries it: each signed block as streamed, else the text in one piece. */
  private emitReasoningOf(result: GenerationResult): void {
    const blocks = result.thinkingBlocks;
    if (blocks === undefined) {
      this.emitPiece({ text: '', reasoning: result.reasoning });
      return;
    }
    for (const b of blocks) {
      this.emitPiece(
        b.type === 'thinking'
          ? { text: '', reasoning: b.thinking, reasoningSignature: b.signature }
          : { text: '', redactedReasoning: b.data },
      );
    }
  }

  private open(head: StreamHead): void {
    if (this.phase !== 'waiting') {
      return;
    }
    this.phase = 'streaming';
    const own = this.relay.serveHead?.(head) ?? head;
    this.fmt = this.relay.encoder(own);
    this.relay.sink.open(gatewayHeaders(own, this.relay.cache));
    this.out(this.fmt.start());
    this.resolveStarted();
    const keepAliveMs = this.relay.keepAliveMs ?? 0;
    if (keepAliveMs > 0 && !this.done) {
      this.keepAliveTimer = setTimeout(this.keepAlive, keepAliveMs).unref();
    }
  }

  /**
   * A provider can go quiet mid-answer for minutes (a model thinking without showing it, a long tool-call argument
   * generated before its first fragment is sent), and Anthropic's pings, OpenAI's empty chunks are dropped by the
   * worker: without a byte for 60 s a proxy in front (nginx's `proxy_read_timeout`, an AWS ALB) cuts the response,
   * and a client with a read timeout gives up, though the answer is coming. Past `keepAliveMs` without a write, the
   * encoder's keep-alive goes out; the timer is re-armed for what is left of the interval after the last write.
   */
  private readonly keepAlive = (): void => {
    const keepAliveMs = this.relay.keepAliveMs ?? 0;
    if (this.done || this.fmt === null) {
      return;
    }
    const idle = performance.now() - this.wroteAt;
    if (idle >= keepAliveMs) {
      this.out(this.fmt.keepAlive());
    }
    this.keepAliveTimer = setTimeout(this.keepAlive, Math.max(1, keepAliveMs - (performance.now() - this.wroteAt)));
    this.keepAliveTimer.unref();
  };

  /** Every write to the sink goes through here: it is what a keep-alive measures quiet from. */
  private out(sse: string): void {
    this.wroteAt = performance.now();
    this.relay.sink.write(sse);
  }

  /** Stops keeping the stream alive as the relay ends, whichever way it ends. */
  protected override finish(): boolean {
    if (this.keepAliveTimer !== undefined) {
      clearTimeout(this.keepAliveTimer);
      this.keepAliveTimer = undefined;
    }
    return super.finish();
  }

  /** A `chunks` message: each piece is its own SSE event, as a `chunk` would have been, and all go in one write. */
  private relayPieces(seq: number, pieces: readonly ReplyPiece[]): void {
    if (this.phase === 'waiting') {
      this.suspect = true;
      return;
    }
    this.gathered = '';
    for (let i = 0; i < pieces.length; i++) {
      this.sequencer.accept(seq + i, pieces[i], this.emit);
    }
    const out = this.gathered;
    this.gathered = null;
    if (out !== '') {
      this.out(out);
    }
  }

  private write(sse: string): void {
    if (this.gathered !== null) {
      this.gathered += sse;
    } else {
      this.out(sse);
    }
  }

  private emitPiece(p: ReplyPiece): void {
    const fmt = this.fmt;
    if (fmt === null) {
      return;
    }
    // The sources first, on the first chunk of the piece that brought them (the provider's chunk had them).
    if (hasSources(p)) {
      this.write(fmt.sources(p));
      this.sourcesSent = true;
    }
    // Reasoning comes before the text it leads to, as providers send it.
    if (p.reasoning !== undefined && p.reasoning !== '') {
      this.write(fmt.reasoning(p.reasoning));
      this.reasoningSent = true;
    }
    if (p.reasoningSignature !== undefined) {
      this.write(fmt.thinkingSignature(p.reasoningSignature));
      this.reasoningSent = true;
    }
    if (p.redactedReasoning !== undefined) {
      this.write(fmt.redactedThinking(p.redactedReasoning));
      this.reasoningSent = true;
    }
    // A piece's logprobs go with its text, else its refusal, else on their own: none is dropped.
    let logprobs = p.logprobs;
    if (p.text !== '') {
      this.write(fmt.content(p.text, logprobs));
      logprobs = undefined;
      this.sent.push(p.text);
      this.sentLength += p.text.length;
    }
    if (p.refusal !== undefined && p.refusal !== '') {
      this.write(fmt.refusal(p.refusal, logprobs));
      logprobs = undefined;
      this.refusalSent += p.refusal;
    }
    if (logprobs !== undefined && hasLogprobEntries(logprobs)) {
      this.write(fmt.logprobs(logprobs));
    }
    if (p.toolCalls !== undefined && p.toolCalls.length > 0) {
      const served = this.relay.serveToolCalls?.(p.toolCalls) ?? p.toolCalls;
      this.write(fmt.toolCalls(served));
      this.toolFragmentsSent += served.length;
      for (const f of served) {
        const sent = (this.toolsSent[f.index] ??= { id: f.id, args: [] });
        sent.id ??= f.id;
        if (f.arguments !== undefined && f.arguments !== '') {
          sent.args.push(f.arguments);
        }
      }
    }
    if (p.finishReason) {
      this.lastFinishReason = p.finishReason;
    }
  }

  private complete(result: GenerationResult): void {
    if (this.phase === 'waiting') {
      this.open(headOf(result));
    }
    const fmt = this.fmt;
    if (fmt === null) {
      return;
    }
    if (this.sequencer.hasGap) {
      this.suspect = true;
    }
    const served = this.relay.serve?.(result) ?? result;
    const toolCalls = served.toolCalls ?? [];
    // Tool-call fragments went out and some may be lost: what the final calls add to them goes out before the end,
    // unless they do not extend what went out (then, or when they came from a run that died, nothing can be made up).
    const checkTools = (this.suspect || this.linkLost) && this.toolFragmentsSent > 0 && !this.rerun;
    const toolRest = checkTools ? this.toolCallsRest(toolCalls) : [];
    if (toolRest === null || (this.rerun && this.toolFragmentsSent > 0)) {
      this.fail(notResumable());
      return;
    }
    if (!this.reasoningSent && this.sentLength === 0 && this.toolFragmentsSent === 0) {
      // Nothing of the answer went out (an Idempotency-Key replay, a lost start): its reasoning leads, as it would have.
      this.emitReasoningOf(result);
    }
    if (!this.sourcesSent && hasSources(served)) {
      // None came in pieces (a cache hit replayed, an Idempotency-Key replay, lost chunks): they go before the rest.
      this.out(fmt.sources(served));
      this.sourcesSent = true;
    }
    const refusal = result.refusal ?? '';
    if (refusal !== this.refusalSent && refusal.startsWith(this.refusalSent)) {
      // A refusal that did not come in pieces (an Idempotency-Key replay, a cache hit, lost chunks): the rest of it.
      this.emitPiece({ text: '', refusal: refusal.slice(this.refusalSent.length) });
    }
    if (this.sentLength !== result.text.length || this.suspect) {
      const sentText = this.sent.join('');
      if (result.text.startsWith(sentText)) {
        const rest = result.text.slice(sentText.length);
        if (rest !== '') {
          // Nothing sent yet (a cache hit replayed, lost chunks): the whole answer's logprobs go with its text.
          this.out(fmt.content(rest, sentText === '' ? result.logprobs : undefined));
        }
      } else if (this.suspect) {
        this.fail(notResumable());
        return;
      }
      // Otherwise every chunk arrived in order and the worker's final text merely differs (e.g. trimmed):
      // what the client received stands.
    }
    if (toolCalls.length > 0 && this.toolFragmentsSent === 0) {
      // The fragments never reached us (a lost start, or a worker that did not relay them): send them whole.
      this.out(fmt.wholeToolCalls(toolCalls));
    } else if (toolRest.length > 0) {
      this.out(fmt.toolCalls(toolRest));
    }
    this.out(fmt.end(served, served.finishReason ?? this.lastFinishReason ?? 'stop'));
    this.relay.sink.end();
    this.finish();
    this.relay.onEnd({ result: served });
  }

  /**
   * The fragments that complete what went out of the tool calls into `calls` (the final ones, as served), or null
   * when they cannot: a call that went out differently (another id, arguments the final ones do not start with), or
   * one before the last that went out and is not whole (a client in Anthropic's format closed its block when the next
   * began). The last call that went out gets the rest of its arguments; calls after it go out whole. Only at the end
   * of a stream that may have lost messages.
   */
  private toolCallsRest(calls: readonly ToolCall[]): ToolCallDelta[] | null {
    const last = this.toolsSent.length - 1;
    const rest: ToolCallDelta[] = [];
    for (let index = 0; index < Math.max(calls.length, this.toolsSent.length); index++) {
      const call = calls.at(index);
      const sent = this.toolsSent.at(index);
      if (sent === undefined) {
        if (call !== undefined && index > last) {
          rest.push({ index, id: call.id, name: call.function.name, arguments: call.function.arguments });
          continue;
        }
        return null;
      }
      const args = sent.args.join('');
      if (call === undefined || sent.id !== call.id || !call.function.arguments.startsWith(args)) {
        return null;
      }
      if (call.function.arguments.length > args.length) {
        if (index < last) {
          return null;
        }
        rest.push({ index, arguments: call.function.arguments.slice(args.length) });
      }
    }
    return rest;
  }

  /** Ends the relay with `err`: an HTTP error before the start, an error event after it. */
  protected override fail(err: GatewayError): boolean {
    if (this.done) {
      return false;
    }
    if (this.phase === 'streaming' && this.fmt !== null) {
      this.out(this.fmt.error(err.toBody()));
      this.relay.sink.end();
    }
    this.finish();
    this.rejectStarted(err);
    this.relay.onEnd({ error: err });
    return true;
  }
}

/** A stream that lost what cannot be made up from its final answer. */
function notResumable(): GatewayError {
  return new GatewayError(ErrorCode.Internal, 'The stream was interrupted and cannot be resumed; retry the request.');
}

/** The head of a stream opened from a whole answer (a cache hit, or a stream whose start message was lost). */
function headOf(result: GenerationResult): StreamHead {
  const { promptTokens, cachedPromptTokens, cacheWritePromptTokens } = result.usage;
  return merged(result, { attempts: result.attempts.length, promptTokens, cachedPromptTokens, cacheWritePromptTokens });
}
