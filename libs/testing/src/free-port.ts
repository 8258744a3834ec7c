import { createServer } from 'node:net';

/** `TEST_PORT_RANGE=lo-hi`: the ports this run may take (suites of several runs side by side keep apart). */
function portRange(): [number, number] | null {
  const match = /^(\d+)-(\d+)$/.exec(process.env.TEST_PORT_RANGE ?? '');
  return match === null ? null : [Number(match[1]), Number(match[2])];
}

function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const found = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : resolve(found)));
    });
  });
}

/**
 * A TCP port free on 127.0.0.1 right now (in `TEST_PORT_RANGE` when set). Another process may take it before you
 * bind, so prefer listening on port 0 where the server under test allows it; use this for things that need the
 * port up front (a child process's environment, a config file).
 */
export async function freePort(): Promise<number> {
  const range = portRange();
  if (range === null) {
    return (await tryPort(0)) ?? 0;
  }
  const [lo, hi] = range;
  for (let i = 0; i < 200; i++) {
    const found = await tryPort(lo + Math.floor(Math.random() * (hi - lo + 1)));
    if (found !== null) {
      return found;
    }
  }
  throw new Error(`no free port in TEST_PORT_RANGE ${lo}-${hi}`);
}
