import { ErrorCode, GatewayError, type GenerationResult, type ReplyMessage, type ToolCallDelta } from '@aigw/core';
import { ChunkFormatter, SSE_DONE, sseError } from '../openai/sse-format';
import { ChunkSequencer } from './chunk-sequencer';
import { settlementOf, type JobSnapshot } from './job-snapshot';
import { clientGoneError, ReplyWaiter, type AbandonReason, type WaiterOptions } from './reply-waiter';

/** Where SSE goes. `open` sends the status line and headers; nothing is sent before it. */
export interface StreamSink {
  open(headers: Record<string, string>): void;
  write(data: string): void;
  end(): void;
}

export interface StreamRelayOptions extends WaiterOptions {
  sink: StreamSink;
  includeUsage: boolean;
  /** Called once when the relay ends: with the result, or with the error that ended it. */
  onEnd: (outcome: { result: GenerationResult } | { error: GatewayError }) => void;
}

/** What the SSE head needs: the `start` message, or a result when the start was lost. */
type StreamHead = Pick<
  Extract<ReplyMessage, { t: 'start' }>,
  'id' | 'created' | 'provider' | 'model' | 'route' | 'attempts'
>;

interface Piece {
  text: string;
  finishReason?: string | null;
  toolCalls?: ToolCallDelta[];
  reasoning?: string;
  refusal?: string;
}

/**
 * Relays a streamed job as OpenAI SSE. Nothing is sent until the `start` message, so a failure
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
  private fmt: ChunkFormatter | null = null;
  private readonly sequencer = new ChunkSequencer<Piece>();
  private readonly sent: string[] = [];
  private sentLength = 0;
  private lastFinishReason: string | null = null;
  /** Tool-call fragments relayed: once any went out, lost ones cannot be made up for. */
  private toolFragmentsSent = 0;
  /** Something may have been lost (a gap, or chunks before a lost start): check against the final text. */
  private suspect = false;
  private readonly emit = (p: Piece): void => this.emitPiece(p);

  constructor(private readonly relay: StreamRelayOptions) {
    super(relay);
    this.started = new Promise<void>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // The controller awaits `started` after other awaits; an early rejection is not unhandled.
    this.started.catch(noop);
  }

  onReply(msg: ReplyMessage): void {
    if (this.done) {
      return;
    }
    switch (msg.t) {
      case 'start':
        this.open(msg);
        return;
      case 'chunk':
        if (this.phase === 'waiting') {
          this.suspect = true;
          return;
        }
        this.sequencer.accept(msg.seq, msg, this.emit);
        return;
      case 'end':
      case 'result':
        this.complete(msg.result);
        return;
      case 'error':
        this.fail(GatewayError.fromBody(msg.error, msg.retryAfterMs));
        return;
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
      // Reaching here means the reply channel lost at least the `end` message.
      this.suspect = true;
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
    this.opts.onAbandon(reason);
    this.relay.onEnd({ error: err });
  }

  private open(head: StreamHead): void {
    if (this.phase !== 'waiting') {
      return;
    }
    this.phase = 'streaming';
    this.fmt = new ChunkFormatter(head.id, head.created, `${head.provider}/${head.model}`);
    this.relay.sink.open({
      'x-gateway-provider': head.provider,
      'x-gateway-model': head.model,
      'x-gateway-attempts': String(head.attempts),
      'x-gateway-route': head.route,
      'x-gateway-cache': 'miss',
    });
    this.relay.sink.write(this.fmt.role());
    this.resolveStarted();
  }

  private emitPiece(p: Piece): void {
    const fmt = this.fmt;
    if (fmt === null) {
      return;
    }
    // Reasoning comes before the text it leads to, as providers send it.
    if (p.reasoning !== undefined && p.reasoning !== '') {
      this.relay.sink.write(fmt.reasoning(p.reasoning));
    }
    if (p.text !== '') {
      this.relay.sink.write(fmt.content(p.text));
      this.sent.push(p.text);
      this.sentLength += p.text.length;
    }
    if (p.refusal !== undefined && p.refusal !== '') {
      this.relay.sink.write(fmt.refusal(p.refusal));
    }
    if (p.toolCalls !== undefined && p.toolCalls.length > 0) {
      this.relay.sink.write(fmt.toolCalls(p.toolCalls));
      this.toolFragmentsSent += p.toolCalls.length;
    }
    if (p.finishReason) {
      this.lastFinishReason = p.finishReason;
    }
  }

  private complete(result: GenerationResult): void {
    if (this.phase === 'waiting') {
      this.open({ ...result, attempts: result.attempts.length });
    }
    const fmt = this.fmt;
    if (fmt === null) {
      return;
    }
    if (this.sequencer.hasGap) {
      this.suspect = true;
    }
    if (this.sentLength !== result.text.length || this.suspect) {
      const sentText = this.sent.join('');
      if (result.text.startsWith(sentText)) {
        const rest = result.text.slice(sentText.length);
        if (rest !== '') {
          this.relay.sink.write(fmt.content(rest));
        }
      } else if (this.suspect) {
        this.fail(
          new GatewayError(ErrorCode.Internal, 'The stream was interrupted and cannot be resumed; retry the request.'),
        );
        return;
      }
      // Otherwise every chunk arrived in order and the worker's final text merely differs (e.g. trimmed):
      // what the client received stands.
    }
    const toolCalls = result.toolCalls ?? [];
    if (toolCalls.length > 0 && this.toolFragmentsSent === 0) {
      // The fragments never reached us (a lost start, or a worker that did not relay them): send them whole.
      this.relay.sink.write(fmt.wholeToolCalls(toolCalls));
    } else if (toolCalls.length > 0 && this.suspect) {
      this.fail(
        new GatewayError(ErrorCode.Internal, 'The stream was interrupted and cannot be resumed; retry the request.'),
      );
      return;
    }
    const sink = this.relay.sink;
    sink.write(fmt.finish(result.finishReason ?? this.lastFinishReason ?? 'stop'));
    if (this.relay.includeUsage) {
      sink.write(fmt.usage(result.usage));
    }
    sink.write(SSE_DONE);
    sink.end();
    this.finish();
    this.relay.onEnd({ result });
  }

  /** Ends the relay with `err`: an HTTP error before the start, an error event after it. */
  protected override fail(err: GatewayError): boolean {
    if (this.done) {
      return false;
    }
    if (this.phase === 'streaming') {
      this.relay.sink.write(sseError(err.toBody()));
      this.relay.sink.end();
    }
    this.finish();
    this.rejectStarted(err);
    this.relay.onEnd({ error: err });
    return true;
  }
}

function noop(): void {}
