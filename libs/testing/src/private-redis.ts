import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { waitFor } from './wait-for';

/**
 * A redis-server of a test's own, on its own port, with AOF persistence (`appendfsync always`, `noeviction`:
 * how the gateway wants Redis run in production), which the test may kill and restart. The shared Redis
 * must never be stopped; this one exists for that.
 */
export class PrivateRedis {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-redis-'));
  port = 0;

  /** `extraArgs`: more redis-server options (`['--databases', '2']`). */
  constructor(private readonly extraArgs: string[] = []) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<this> {
    if (this.port === 0) {
      this.port = await freePort();
    }
    // Same port and data directory every time: a restart finds its append-only file.
    const args = [
      '--bind',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--dir',
      this.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      ...this.extraArgs,
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`redis-server on ${this.port} exited with ${child.exitCode}`);
        }
        const probe = new Redis(this.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          // Its INFO would fail without the password and close the connection: the PING says all.
          enableReadyCheck: false,
        });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          // LOADING while the AOF replays: not up yet.
          return (await probe.ping()) === 'PONG';
        } catch (err) {
          // A server started with `--requirepass` answers, but not to a PING without the password.
          return err instanceof Error && err.message.startsWith('NOAUTH');
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: 10_000, intervalMs: 25, message: `redis-server on ${this.port} did not start` },
    );
    return this;
  }

  /** Kills the server at once (SIGKILL, like a crashed node): with `appendfsync always` no write is lost. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(downMs: number): Promise<void> {
    await this.kill();
    await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
