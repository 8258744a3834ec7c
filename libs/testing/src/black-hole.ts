import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/**
 * A loopback port where connections are never made: a host that drops connection attempts (behind a firewall, say),
 * whose callers meet their connect timeout (undici's UND_ERR_CONNECT_TIMEOUT), not a refused connection.
 *
 * A child process listens with a backlog of 1 and then blocks its event loop, so it never accepts; two connections
 * fill the kernel's accept queue, and Linux drops the SYNs of every later one (tcp_abort_on_overflow 0, the default).
 * A child, not this process: its event loop must keep running the test.
 */
export class BlackHole {
  port = 0;
  private child: ChildProcess | null = null;
  private readonly fillers: net.Socket[] = [];

  async open(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const srv = require('node:net').createServer();
srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(srv.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
});`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`black hole exited (${code})`)));
      child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
    });
    for (let i = 0; i < 2; i++) {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      this.fillers.push(socket);
    }
  }

  close(): void {
    for (const s of this.fillers.splice(0)) {
      s.destroy();
    }
    this.child?.removeAllListeners('exit');
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}
