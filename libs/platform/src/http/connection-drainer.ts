import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /** Closes the connections that hold the server's close open (see `ConnectionDrainer`). */
    connectionDrainer: ConnectionDrainer;
  }
}

const DRAIN_EVERY_MS = 100;

/** A request still arriving on a connection: the answer Node made for it once its head came (none before). */
interface Arriving {
  response: ServerResponse | null;
  /** When a round first saw it arriving. */
  since: number;
}

/** What the drain uses of the app's HTTP server. */
type DrainedServer = Pick<
  Server,
  'on' | 'once' | 'emit' | 'closeIdleConnections' | 'headersTimeout' | 'requestTimeout'
>;

/**
 * While the HTTP server closes, keep closing the connections that carry no request, so that only requests in flight
 * hold the close open (within SHUTDOWN_GRACE_MS). Every app's (createHttpApp, `installConnectionDrainer`): it starts
 * when Fastify closes its server (`preClose`), or earlier if the app says so (the gateway, at its
 * beforeApplicationShutdown).
 *
 * `server.close()` only drops the keep-alive connections idle at the moment it is called; one whose in-flight
 * request finishes afterwards would hold the close open until the keep-alive timeout (HTTP_KEEP_ALIVE_TIMEOUT_MS,
 * 65 s by default), past any grace period: `closeIdleConnections()` every round drops it.
 *
 * A connection that has not received a byte (a load balancer's or fetch's spare, opened ahead of a request that never
 * came) Node counts as a request in progress, not as idle, and `server.close()` stops the check that would end it at
 * headersTimeout: it held the close until the hard exit. No public API lists a server's connections, so each one is
 * remembered from its 'connection' event until it closes (a Set entry and a 'close' listener per connection, nothing
 * per request). While a request is in flight the close waits for it anyway, so such a connection stays open: a
 * request the client sends on it gets the closing answer (503, `connection: close`, libs/platform closing.ts) rather
 * than a reset. Once the only connections left have read nothing, over two rounds (a client that connected just now
 * may be writing its request), they are destroyed.
 *
 * A connection that has read a byte and is not idle has a request arriving (its head or body still on its way) or
 * being answered. One being answered (its request all arrived: a stream, a long completion) is left to finish. One
 * arriving is held to the app's receive timeouts (the server's `headersTimeout` while its head arrives, its
 * `requestTimeout` while its body does: HTTP_RECEIVE_TIMEOUT_MS), which Node stops enforcing once `server.close()`
 * is called: a client that sent half a request and stalled held the close until the hard exit. They count from the
 * round that first saw the request arriving (so a little later than Node would), and past them the request gets
 * Node's own 408 through the app's clientError handler (answerClientError), or, if its answer has begun, the
 * connection is destroyed.
 */
export class ConnectionDrainer {
  private timer?: NodeJS.Timeout;
  private started = false;
  private readonly open = new Set<Socket>();
  /** The connections that had read nothing at the last round. */
  private silent = new Set<Socket>();
  /** The connections whose request was still arriving at the last round. */
  private arriving = new Map<Socket, Arriving>();

  /** `onStart`: marks the app as closing (libs/platform closing.ts). */
  constructor(
    private readonly server: DrainedServer,
    private readonly onStart: () => void = () => undefined,
  ) {
    server.on('connection', (socket: Socket) => {
      this.open.add(socket);
      socket.once('close', () => this.open.delete(socket));
    });
  }

  /** Begins the drain; once (a second call, from `preClose` after the app's own, does nothing). */
  start(): void {
    if (this.started) {
      return;
    }
    this.started = true;
    // From the first idle connection closed on: answers say `connection: close` (and new requests are sent to
    // another replica, libs/platform closing.ts), or a client could reuse a connection this is about to close.
    this.onStart();
    this.server.once('close', () => this.stop());
    this.drain();
    this.timer = setInterval(() => this.drain(), DRAIN_EVERY_MS);
    this.timer.unref();
  }

  /** Ends the drain: the server has closed, or the app (its close may fail before the server's 'close'). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.silent.clear();
    this.arriving.clear();
  }

  /** One round of the drain, at `now` (public for its spec, which gives the time). */
  drain(now = Date.now()): void {
    const server = this.server;
    server.closeIdleConnections();
    const silent = new Set<Socket>();
    const arriving = new Map<Socket, Arriving>();
    let inFlight = false;
    for (const socket of this.open) {
      // closeIdleConnections destroyed the idle ones; their 'close' comes later.
      if (socket.destroyed) {
        continue;
      }
      if (socket.bytesRead === 0) {
        silent.add(socket);
        continue;
      }
      const request = this.arrivingOn(socket, now);
      if (request !== undefined) {
        arriving.set(socket, request);
        this.timeOutIfLate(server, socket, request, now);
      }
      // A request timed out above is no longer in flight.
      if (!socket.destroyed) {
        inFlight = true;
      }
    }
    if (!inFlight) {
      for (const socket of silent) {
        if (this.silent.has(socket)) {
          socket.destroy();
        }
      }
    }
    this.silent = silent;
    this.arriving = arriving;
  }

  /**
   * The request arriving on a connection that has read bytes and is not idle, if one is: no answer yet (its head is
   * arriving), or an answer to a request whose body has not all come. Undefined when its request has arrived.
   */
  private arrivingOn(socket: Socket, now: number): Arriving | undefined {
    // Node's own field (not in its typings): the answer being written on the connection, set once a request's head
    // has been parsed, until that answer is finished.
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
    if (response !== null && response.req.complete) {
      return undefined;
    }
    const seen = this.arriving.get(socket);
    if (seen === undefined || (seen.response !== null && seen.response !== response)) {
      return { response, since: now };
    }
    // The same request: its head came since, its body is arriving.
    return { response, since: seen.since };
  }

  private timeOutIfLate(server: DrainedServer, socket: Socket, request: Arriving, now: number): void {
    // 0: no limit (HTTP_RECEIVE_TIMEOUT_MS=0 leaves the body unbounded; the head always is).
    const limit = request.response === null ? server.headersTimeout : server.requestTimeout;
    if (limit <= 0 || now - request.since < limit) {
      return;
    }
    if (request.response?.headersSent === true) {
      socket.destroy();
      return;
    }
    // What Node does at its own timeout: the server's clientError listener answers 408 and closes the connection.
    const timeout = Object.assign(new Error('The request did not arrive in time.'), {
      code: 'ERR_HTTP_REQUEST_TIMEOUT',
    });
    socket.on('error', () => undefined);
    if (!server.emit('clientError', timeout, socket) || !socket.destroyed) {
      socket.destroy();
    }
  }
}

/**
 * Tracks the connections of the app's server from now on, and drains them once Fastify begins to close it
 * (`preClose`, after `installClosingAnswer` marked the app as closing), or from `fastify.connectionDrainer.start()`.
 */
export function installConnectionDrainer(fastify: FastifyInstance): void {
  const drainer = new ConnectionDrainer(fastify.server, () => (fastify.closing = true));
  fastify.decorate('connectionDrainer', drainer);
  fastify.addHook('preClose', (done) => {
    drainer.start();
    done();
  });
}
