import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sleep } from '@aigw/testing';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Resolves when the client side of this request went away (aborted or finished). */
  closed: Promise<void>;
  /** True once the connection closed before our response finished. */
  abortedEarly: () => boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void | Promise<void>;

/** A loopback HTTP server standing in for a provider; each test sets `handler` to speak the wire format it needs. */
export class FakeUpstream {
  readonly requests: SeenRequest[] = [];
  /** TCP connections accepted so far: keep-alive reuse shows as fewer connections than requests. */
  connections = 0;
  /** Most connections open at once. */
  peakConnections = 0;
  handler: Handler = (_req, res) => {
    res.writeHead(500).end('no handler');
  };
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeUpstream> {
    const server = createServer();
    const up = new FakeUpstream(server);
    server.on('connection', (socket: Socket) => {
      up.connections++;
      up.sockets.add(socket);
      up.peakConnections = Math.max(up.peakConnections, up.sockets.size);
      socket.on('close', () => up.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void up.onRequest(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return up;
  }

  get origin(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    let early = false;
    const closed = new Promise<void>((resolve) => {
      res.on('close', () => {
        early = !res.writableFinished;
        resolve();
      });
    });
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      closed,
      abortedEarly: () => early,
    };
    this.requests.push(seen);
    try {
      await this.handler(req, res, seen);
    } catch {
      // A handler writing to a socket the client already dropped is part of several scenarios.
      res.destroy();
    }
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

/** One SSE event as a server writes it. */
export function sseEvent(data: unknown, event?: string): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${text}\n\n`;
}

export { sleep };

/** Poll until `cond` holds; wrap in `within` to bound it. */
export async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) {
    await sleep(5);
  }
}

/** Bound any wait in a test so a regression fails instead of hanging the suite. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}
