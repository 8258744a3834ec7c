// A TCP relay that holds every chunk for a fixed time in each direction: Redis "on another host" for the
// apps (--redis-delay MS). Loopback has no network delay, so round trips on the request path cost only CPU
// here; with this relay each one also costs 2 × MS, as it would with Redis across a network. Chunks keep
// their order (timers of equal delay fire in the order they were set). Node timers have millisecond
// granularity, so MS is a whole number of milliseconds and each hop takes at least that long.
import net from 'node:net';

function relay(from, to, delayMs) {
  from.on('data', (chunk) => {
    setTimeout(() => {
      if (!to.destroyed) {
        to.write(chunk);
      }
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
}

/** Listens on an ephemeral loopback port and relays to 127.0.0.1:`targetPort`; resolves to { port, close }. */
export async function startRedisDelay(targetPort, delayMs) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream, delayMs);
    relay(upstream, client, delayMs);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    close: async () => {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
