import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Requests sent with `Expect: 100-continue` whose `100 Continue` has not been sent yet. */
const awaiting = new WeakSet<IncomingMessage>();

/**
 * Node's `checkContinue`: Node sends `100 Continue` to a request with `Expect: 100-continue` as soon as its headers
 * arrive, so a client without a valid key, on a route that is not there or with a body over the limit uploaded its
 * whole body (up to the limit: a large base64 image) before its 401, 404 or 413. The `100 Continue` is sent instead
 * when something first reads the body; an answer given before that goes out alone, with `Connection: close` (the
 * client may not send the body it held back, or send it anyway: neither may be read as the next request). A request
 * without `Expect` does not pass here: its path is unchanged.
 */
export function installLateContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const keepAlive = res.shouldKeepAlive;
    res.shouldKeepAlive = false;
    awaiting.add(req);
    const read = req._read.bind(req);
    req._read = (size: number): void => {
      req._read = read;
      // Node reads (and discards) a body left unread once the answer is sent: no 100 after a final answer.
      if (awaiting.delete(req) && !res.headersSent) {
        res.shouldKeepAlive = keepAlive;
        res.writeContinue();
      }
      read(size);
    };
    server.emit('request', req, res);
  });
}

/** Whether `req` was sent with `Expect: 100-continue` and its body not asked for yet: refusing it now saves the upload. */
export function awaitsContinue(req: IncomingMessage): boolean {
  return awaiting.has(req);
}
