import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { Redis } from 'ioredis';
import { freePort, waitFor } from '@aigw/testing';

/**
 * `docker compose up`: Redis requires a password, REDIS_PASSWORD, written once (in the apps' REDIS_URL, which the
 * Redis service reads it from), with a default that works on a dev box. Checked without a Docker engine: the file
 * interpolated as Compose does, and the Redis service's command and healthcheck run as its container runs them.
 */
const ROOT = join(__dirname, '../..');
const TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}

/** Compose's interpolation of what these tests use: `${VAR:-default}`, `${VAR:?message}`, `$$` (a `$`). */
function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g,
      (whole, name?: string, op?: string, arg?: string) => {
        if (name === undefined) {
          return '$';
        }
        const set = env[name] !== undefined && env[name] !== '';
        if (op === '?' && !set) {
          throw new Error(`${name}: ${arg}`);
        }
        return set ? env[name] : op === '-' ? (arg ?? '') : '';
      },
    );
  }
  if (Array.isArray(value)) {
    return value.map((v) => interpolate(v, env));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

function services(env: Record<string, string> = {}): Record<string, Service> {
  const file = interpolate(load(TEXT), { SECRETS_KEY: 'k', ...env }) as { services: Record<string, Service> };
  return file.services;
}

const APPS = ['api-gateway', 'router-worker', 'health-monitor', 'all-in-one'];

describe("docker compose's Redis password", () => {
  it("is REDIS_PASSWORD, written once, in every app's REDIS_URL and the Redis service's", () => {
    expect(TEXT.match(/\$\{REDIS_PASSWORD\b/g)).toHaveLength(1);
    for (const env of [{}, { REDIS_PASSWORD: 'chosen-0123' }] as Record<string, string>[]) {
      const all = services(env);
      const url = all.redis.environment?.REDIS_URL ?? '';
      expect(new URL(url).password).toBe(env.REDIS_PASSWORD ?? 'aigw-dev-redis-password');
      for (const app of APPS) {
        expect({ app, url: all[app].environment?.REDIS_URL }).toEqual({ app, url });
      }
    }
  });

  describe('Redis run as its container runs it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aigw-compose-redis-'));
    const bin = join(dir, 'bin');
    let port = 0;

    beforeAll(async () => {
      port = await freePort();
      mkdirSync(bin, { recursive: true });
      const real = (name: string): string =>
        spawnSync('sh', ['-c', `command -v ${name}`])
          .stdout.toString()
          .trim();
      // The image's redis-server and redis-cli, on a port and in a directory of the test's own.
      const shims = {
        'redis-server': `exec ${real('redis-server')} --port ${port} --bind 127.0.0.1 --dir ${dir} --save '' "$@"`,
        'redis-cli': `exec ${real('redis-cli')} -p ${port} "$@"`,
      };
      for (const [name, body] of Object.entries(shims)) {
        writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      }
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    function containerEnv(env: Record<string, string>): NodeJS.ProcessEnv {
      return { PATH: `${bin}:${process.env.PATH ?? ''}`, ...services(env).redis.environment };
    }

    function start(env: Record<string, string>): {
      child: ChildProcess;
      output: () => string;
      exited: Promise<number | null>;
    } {
      const [shell, ...args] = services(env).redis.command ?? [];
      const child = spawn(shell, args, { env: containerEnv(env) });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, output: () => output, exited };
    }

    /** The healthcheck (`CMD-SHELL`: `sh -c`), in the container's environment. */
    function healthy(env: Record<string, string>, containerOf = env): boolean {
      const [kind, script] = services(env).redis.healthcheck?.test ?? [];
      expect(kind).toBe('CMD-SHELL');
      return spawnSync('sh', ['-c', script], { env: containerEnv(containerOf) }).status === 0;
    }

    it.each([
      ['the default password', {}],
      ['REDIS_PASSWORD', { REDIS_PASSWORD: 'chosen-0123456789' }],
    ])('takes the apps with %s, refuses a client without it, keeps it off the command line', async (_, env) => {
      const redis = start(env);
      const appUrl = new URL(services(env)['api-gateway'].environment?.REDIS_URL ?? '');
      const password = decodeURIComponent(appUrl.password);
      const anonymous = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
      anonymous.on('error', () => undefined);
      const app = new Redis(`redis://:${appUrl.password}@127.0.0.1:${port}${appUrl.pathname}`, { lazyConnect: true });
      try {
        await waitFor(() => healthy(env), {
          timeoutMs: 10_000,
          message: `Redis did not become healthy:\n${redis.output()}`,
        });
        await app.connect();
        expect(await app.ping()).toBe('PONG');
        expect(await app.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
        await anonymous.connect().catch(() => undefined);
        await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
        // Unhealthy with another password (REDIS_PASSWORD changed without a restart of Redis).
        expect(healthy(env, { REDIS_PASSWORD: 'another-password' })).toBe(false);
        const cmdline = readFileSync(`/proc/${redis.child.pid}/cmdline`, 'utf8');
        expect(cmdline).toContain('redis-server');
        expect(cmdline).not.toContain(password);
        redis.child.kill('SIGTERM');
        expect(await redis.exited).toBe(0);
      } finally {
        anonymous.disconnect();
        app.disconnect();
        redis.child.kill('SIGKILL');
      }
    });

    it.each([
      ['a character redis.conf would read as quoting', 'abc"def'],
      ['a space', 'abc def'],
      // Read up to the URL's last `@`, the one before the host: a password cut at its own `@` would start Redis with
      // another password than the apps send.
      ['an @', 'abc@def'],
    ])('refuses to start with a password holding %s', async (_, password) => {
      const redis = start({ REDIS_PASSWORD: password });
      expect(await redis.exited).toBe(1);
      // `exit` may come before the pipes are drained: what it printed may arrive a moment later.
      await waitFor(() => redis.output().includes('REDIS_PASSWORD'), {
        timeoutMs: 5_000,
        message: `no line naming REDIS_PASSWORD: ${JSON.stringify(redis.output())}`,
      });
    });
  });
});
