import { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

/** One provider request in progress. */
export class Exchange {
  /** The simulator itself cut the connection (drop modes); not a client cancellation. */
  selfClosed = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: string,
    readonly hadAuth: boolean,
    readonly requestId: string,
  ) {}

  /** Client gone (or connection cut): nothing more can be written. */
  get gone(): boolean {
    return this.res.destroyed;
  }

  /** `headers` must be a fresh object: content-length is added to it. */
  send(status: number, headers: OutgoingHttpHeaders, body: string): void {
    if (this.gone) {
      return;
    }
    headers['content-length'] = Buffer.byteLength(body);
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  /** Flush what was written, then cut the connection without finishing the response. */
  dropAfter(data: string): void {
    this.selfClosed = true;
    if (data === '') {
      this.res.destroy();
      return;
    }
    this.res.write(data, () => this.res.destroy());
  }

  drop(): void {
    this.selfClosed = true;
    this.res.destroy();
  }
}

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Reads the whole body as UTF-8; `null` when it exceeds MAX_BODY_BYTES (the rest is drained
 * so the connection stays usable). A client that aborts mid-body never calls back; its
 * response's 'close' event accounts for it.
 */
export function readBody(req: IncomingMessage, done: (raw: string | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk);
    }
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) {
      done(null);
    } else {
      done(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    }
  });
  // An aborted upload emits 'error'; without a listener it would crash the process.
  req.on('error', () => undefined);
}
