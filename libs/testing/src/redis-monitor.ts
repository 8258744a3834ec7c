import type Redis from 'ioredis';

/**
 * A connection of its own in MONITOR mode, for tests that count the commands a system sends.
 *
 * ioredis's own `monitor()` loses a race: it marks the connection as monitoring only in a microtask after MONITOR's
 * OK is handled, so a command logged in the same read as that OK reaches an empty command queue and is reported as a
 * "Command queue state error". `monitor()` rejects with it (and a second one in that read is an unhandled `error`
 * event), leaving the new connection open. Here the listener is on before the connection opens: that error loses
 * only the commands logged before MONITOR took effect, which no caller could have counted anyway, and any other
 * failure closes the connection before it rejects.
 */
export function openMonitor(client: Redis): Promise<Redis> {
  const monitor = client.duplicate({ monitor: true, lazyConnect: true });
  return new Promise<Redis>((resolve, reject) => {
    let monitoring = false;
    monitor.on('error', (err: Error) => {
      if (monitoring || err.message.startsWith('Command queue state error')) {
        return;
      }
      monitor.disconnect();
      reject(err);
    });
    monitor.once('monitoring', () => {
      monitoring = true;
      resolve(monitor);
    });
    monitor.connect().catch(() => undefined); // a failure to connect arrives as the `error` event above
  });
}
