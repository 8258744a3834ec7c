import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Answer, AnswerBook, echoAnswer, estimateTokens } from './answers';
import { jsonAnswer, reasoningAnswer, toolCallAnswer, type ToolCallAnswer, toolResultAnswer } from './behaviours';
import { DEFAULT_SIMULATOR_CONFIG, type SimulatorConfig, validateSimulatorPatch } from './config';
import { type Controllable, handleControl } from './control';
import {
  DEFAULT_EMBEDDING_DIMENSIONS,
  embeddingsJson,
  type EmbeddingsCall,
  geminiEmbedJson,
  isEmbeddingsProblem,
  ollamaEmbedJson,
  parseEmbeddings,
  parseGeminiEmbed,
  parseOllamaEmbed,
} from './embeddings';
import { Exchange, readBody } from './exchange';
import { drawFault } from './faults';
import { wireHeaders } from './headers';
import { Responder } from './respond';
import { hasAuth, routeOf, type SimRoute } from './routes';
import { type Outcome, type RecordedRequest, type SimulatorStats, StatsRecorder } from './stats';
import {
  isProblem,
  type ParsedRequest,
  type RouteHints,
  type WireFormat,
  type WireName,
  type WireProblem,
} from './wire';

function copyConfig(c: SimulatorConfig): SimulatorConfig {
  return structuredClone(c);
}

/**
 * A fake LLM provider on a real loopback HTTP server, speaking the OpenAI chat-completions and embeddings,
 * Anthropic messages, Gemini generateContent and (batch)EmbedContent, Ollama /api/chat and /api/embed and TGI
 * /generate wire formats
 * (JSON and SSE or NDJSON), with latency and fault injection. Every response carries
 * `x-simulator: true`; it is a test and benchmark double, never a fallback.
 *
 * Base URLs: OpenAI `${url}/v1`, Gemini `${url}/v1beta`; Anthropic, Ollama and TGI `url`.
 * `GET /health` is the simulator's own liveness (never faulted); it also answers TGI's and
 * llama.cpp's health probes.
 */
export class ProviderSimulator implements Controllable {
  readonly name: string;
  private cfg: SimulatorConfig;
  private readonly book: AnswerBook;
  /** Model listings per wire format, built once per `models` setting. */
  private readonly listings = new Map<WireName, string>();
  private readonly recorder = new StatsRecorder();
  private readonly responder: Responder;
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private host = '127.0.0.1';
  private boundPort = 0;
  private stopping = false;
  private seq = 0;
  private readonly idBase = randomBytes(4).toString('hex');

  constructor(config: Partial<SimulatorConfig> = {}, opts: { name?: string } = {}) {
    this.name = opts.name ?? 'sim';
    this.cfg = { ...copyConfig(DEFAULT_SIMULATOR_CONFIG), ...validateSimulatorPatch(config) };
    this.book = new AnswerBook(this.cfg.completionTokens);
    this.responder = new Responder({
      config: () => this.cfg,
      later: (ms, fn) => this.later(ms, fn),
      stats: this.recorder,
      headers: {
        openai: wireHeaders(this.name, 'openai'),
        anthropic: wireHeaders(this.name, 'anthropic'),
        gemini: wireHeaders(this.name, 'gemini'),
        ollama: wireHeaders(this.name, 'ollama'),
        tgi: wireHeaders(this.name, 'tgi'),
      },
    });
  }

  get port(): number {
    this.assertStarted();
    return this.boundPort;
  }

  get url(): string {
    this.assertStarted();
    const wildcard = this.host === '0.0.0.0' || this.host === '::' || this.host === '';
    const host = wildcard ? '127.0.0.1' : this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.boundPort}`;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<void> {
    if (this.server !== undefined) {
      throw new Error(`simulator "${this.name}" is already started`);
    }
    const server = createServer((req, res) => this.onRequest(req, res));
    // Outlive typical client pool idle timeouts so the client, not the server, closes idle sockets.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    // "hang" mode holds requests open indefinitely; Node's default request timeout would cut them.
    server.requestTimeout = 0;
    server.on('connection', () => this.recorder.connected());
    server.on('clientError', (_err, socket) => {
      if (socket.writable) {
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      } else {
        socket.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.stopping = false;
    this.host = host;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  /** Closes the server and every open socket (hung and streaming requests included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) {
      return;
    }
    this.stopping = true;
    for (const t of this.timers) {
      clearTimeout(t);
    }
    this.timers.clear();
    // `stopping` stays set until the next start: the responses cut here report 'close' after
    // the server has closed, and must be counted as dropped, not as client cancellations.
    try {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    } finally {
      this.server = undefined;
    }
  }

  configure(patch: Partial<SimulatorConfig>): void {
    const valid = validateSimulatorPatch(patch);
    this.cfg = { ...this.cfg, ...valid };
    this.book.resize(this.cfg.completionTokens);
    if (valid.models !== undefined) {
      this.listings.clear();
    }
  }

  /** A copy of the current settings (`failNext` shows the forced failures still to come). */
  config(): SimulatorConfig {
    return copyConfig(this.cfg);
  }

  stats(): SimulatorStats {
    return this.recorder.snapshot();
  }

  /** Zero the counters and forget recorded requests; the config is kept. */
  reset(): void {
    this.recorder.reset();
  }

  /** The last `n` provider requests (oldest first): route, parsed body, time, whether auth was sent. */
  lastRequests(n = 20): RecordedRequest[] {
    return this.recorder.last(n);
  }

  private assertStarted(): void {
    if (this.server === undefined) {
      throw new Error(`simulator "${this.name}" is not started`);
    }
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private nextId(prefix: string): string {
    return `${prefix}${this.idBase}${(++this.seq).toString(36)}`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/health' || path.startsWith('/_sim/')) {
      handleControl(this, req, res, path);
      return;
    }
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const auth = hasAuth(req.headers, query);
    const ex = new Exchange(req, res, `${req.method ?? ''} ${path}`, auth, this.nextId('req_sim'));
    this.recorder.started(ex.route, auth);
    res.on('close', () => this.recorder.finished(this.outcome(ex)));
    const route = routeOf(req.method ?? '', path, query, req.headers);
    readBody(req, (raw) => this.dispatch(ex, route, raw));
  }

  private outcome(ex: Exchange): Outcome {
    if (ex.selfClosed || this.stopping) {
      return 'dropped';
    }
    return ex.res.writableFinished ? ex.res.statusCode : 'cancelled';
  }

  private dispatch(ex: Exchange, route: SimRoute, raw: string | null): void {
    const wire = route.wire;
    if (raw === null) {
      this.recorder.record({ route: ex.route, body: undefined, at: Date.now(), hadAuth: ex.hadAuth });
      this.responder.error(ex, wire, 413);
      return;
    }
    let body: unknown;
    let invalidJson = false;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      invalidJson = true;
    }
    this.recorder.record({ route: ex.route, body, at: Date.now(), hadAuth: ex.hadAuth });
    if (this.cfg.requireAuth && !ex.hadAuth) {
      const refusal = wire.authFailure;
      if (refusal !== undefined) {
        this.responder.error(ex, wire, refusal.status, refusal.message);
      } else {
        this.responder.error(ex, wire, 401, 'Missing API key: send Authorization or x-api-key (provider simulator)');
      }
      return;
    }
    if (invalidJson) {
      this.responder.error(ex, wire, 400, 'The request body is not valid JSON (provider simulator)');
      return;
    }
    switch (route.kind) {
      case 'generate':
        this.generate(ex, route.wire, route.hints, body);
        return;
      case 'embed':
        this.embed(ex, route.wire, route.hints, body);
        return;
      case 'list': {
        const fault = drawFault(this.cfg);
        const list = this.listing(route.wire.name, route.body);
        this.afterLatency(() => this.responder.jsonReply(ex, wire, () => list, fault));
        return;
      }
      case 'refuse':
        this.responder.error(ex, wire, route.status, route.message);
        return;
    }
  }

  private listing(wire: WireName, build: (models: readonly string[]) => string): string {
    let list = this.listings.get(wire);
    if (list === undefined) {
      list = build(this.cfg.models);
      this.listings.set(wire, list);
    }
    return list;
  }

  private generate(ex: Exchange, wire: WireFormat, hints: RouteHints, body: unknown): void {
    const parsed = wire.parse(body, hints);
    if (isProblem(parsed)) {
      if (parsed.streamBody !== undefined) {
        this.responder.streamBody(ex, wire, parsed.streamBody);
      } else {
        this.responder.error(ex, wire, parsed.status ?? 400, parsed.problem, parsed.param);
      }
      return;
    }
    const cfg = this.cfg;
    const fault = drawFault(cfg);
    const promptTokens = estimateTokens(parsed.promptChars);
    const toolCall = this.toolCallFor(parsed, wire);
    const planned = toolCall?.pieces ?? this.plannedAnswer(parsed);
    const stop = planned === null && cfg.echo ? firstStop(parsed.lastUserText, parsed.stop) : null;
    const full =
      planned ?? (cfg.echo ? echoAnswer(stop === null ? parsed.lastUserText : stop.before) : this.book.get(null));
    // A tool call is never cut short: its arguments must stay valid JSON.
    const answer =
      toolCall !== undefined
        ? full
        : planned !== null || cfg.echo
          ? full.truncate(parsed.maxTokens ?? full.length)
          : this.book.get(parsed.maxTokens);
    const rendering = wire.render({
      id: this.nextId(wire.idPrefix),
      created: Math.floor(Date.now() / 1000),
      model: parsed.model,
      answer,
      promptTokens,
      cachedTokens: Math.min(cfg.cachedTokens, promptTokens),
      truncated: answer.length < full.length,
      includeUsage: parsed.includeUsage,
      ...(cfg.reportUsage ? {} : { omitUsage: true }),
      ...(toolCall === undefined ? {} : { toolCall }),
      ...(parsed.reasoning ? { reasoning: reasoningAnswer(parsed.lastUserText) } : {}),
      ...(parsed.promptTokenList === true ? { promptTokenList: true } : {}),
      ...(stop === null || answer.length < full.length ? {} : { stopSequence: stop.sequence }),
      ...(parsed.logprobs === true ? { logprobs: true } : {}),
      ...(parsed.topLogprobs !== undefined ? { topLogprobs: parsed.topLogprobs } : {}),
    });
    if (parsed.stream) {
      const chunks = rendering.chunks ?? answer.length;
      this.afterLatency(() => this.responder.streamReply(ex, wire, rendering, chunks, fault));
    } else {
      this.afterLatency(() => this.responder.jsonReply(ex, wire, () => rendering.json(), fault));
    }
  }

  /** Deterministic vectors (see `simulatedEmbedding`), with the configured latency and faults. */
  /** OpenAI `/v1/embeddings`, Gemini `embedContent` / `batchEmbedContents` or Ollama `/api/embed`. */
  private embed(ex: Exchange, wire: WireFormat, hints: RouteHints & { batch?: boolean }, body: unknown): void {
    let call: EmbeddingsCall | WireProblem;
    let render: (c: EmbeddingsCall) => string;
    if (wire.name === 'gemini') {
      const batch = hints.batch === true;
      call = parseGeminiEmbed(hints.model ?? '', body, batch);
      render = (c) => geminiEmbedJson(c, batch);
    } else if (wire.name === 'ollama') {
      const parsed = parseOllamaEmbed(body);
      if (!isEmbeddingsProblem(parsed) && parsed.tooLong) {
        this.responder.error(ex, wire, 400, 'input exceeds maximum context length');
        return;
      }
      call = parsed;
      render = ollamaEmbedJson;
    } else {
      call = parseEmbeddings(body);
      render = embeddingsJson;
    }
    if (isEmbeddingsProblem(call)) {
      this.responder.error(ex, wire, 400, call.problem, call.param);
      return;
    }
    const ok =
      wire.name !== 'gemini' && this.cfg.ignoreDimensions
        ? { ...call, dimensions: DEFAULT_EMBEDDING_DIMENSIONS }
        : call;
    const fault = drawFault(this.cfg);
    this.afterLatency(() => this.responder.jsonReply(ex, wire, () => render(ok), fault));
  }

  /** Tools offered and the turn is the user's: call the forced tool, else the first one. */
  private toolCallFor(parsed: ParsedRequest, wire: WireFormat): ToolCallAnswer | undefined {
    if (parsed.tools.length === 0 || parsed.lastToolResult !== null) {
      return undefined;
    }
    const tool = parsed.tools.find((t) => t.name === parsed.forcedTool) ?? parsed.tools[0];
    return toolCallAnswer(this.nextId(wire.toolIdPrefix ?? 'call_sim'), tool, parsed.lastUserText);
  }

  /** A text answer the request's shape decides (after a tool result, JSON mode); null for the usual one. */
  private plannedAnswer(parsed: ParsedRequest): Answer | null {
    if (parsed.lastToolResult !== null) {
      return toolResultAnswer(parsed.lastToolResult);
    }
    if (parsed.json !== null) {
      return jsonAnswer(parsed.json.schema, parsed.lastUserText);
    }
    return null;
  }

  private afterLatency(fn: () => void): void {
    const { latencyMs, jitterMs } = this.cfg;
    const delay = latencyMs + (jitterMs > 0 ? Math.random() * jitterMs : 0);
    if (delay > 0) {
      this.later(delay, fn);
    } else {
      fn();
    }
  }
}

/** Where an echoed answer ends at a stop sequence: the text before the first one it holds, and which one. */
function firstStop(text: string, stops: readonly string[] | undefined): { before: string; sequence: string } | null {
  let found: { before: string; sequence: string } | null = null;
  for (const sequence of stops ?? []) {
    const at = sequence === '' ? -1 : text.indexOf(sequence);
    if (at >= 0 && (found === null || at < found.before.length)) {
      found = { before: text.slice(0, at), sequence };
    }
  }
  return found;
}
