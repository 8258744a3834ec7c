import { spawn } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, PrivateRedis, waitFor } from '@aigw/testing';
import { ROOT, TestSystem } from './harness';

/**
 * k8s/redis.yaml requires a password, the Secret's REDIS_PASSWORD, which the apps put into the ConfigMap's REDIS_URL
 * (`redis://redis:6379/0`); compose's REDIS_URL carries it (`redis://:<password>@redis:6379/0`). The apps' logs, start
 * failures and `/health/*` answers (open without a key, on the gateway's public port too) must never show it: with
 * the password accepted, refused after a rotation, and refused at boot.
 */
describe("Redis's password (REDIS_PASSWORD, or in REDIS_URL)", () => {
  const password = 'aigw-e2e-redis-0123456789abcdef';
  const rotated = 'aigw-e2e-redis-rotated-fedcba9876';
  const redis = new PrivateRedis(['--requirepass', password]);
  let system: TestSystem;
  let admin: Redis;

  beforeAll(async () => {
    await redis.start();
    admin = new Redis({ host: '127.0.0.1', port: redis.port, password });
    // As k8s/ runs them: every app and every connection (BullMQ's, the control channel's) logs in with REDIS_PASSWORD.
    system = new TestSystem({ env: { REDIS_URL: `redis://127.0.0.1:${redis.port}/0`, REDIS_PASSWORD: password } });
    await system.start();
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    admin?.disconnect();
    await redis.stop();
  });

  const everything = (): string => system.apps.flatMap((a) => a.output).join('');

  it('serves with it, and shows it nowhere; a refused login (a rotation) is unavailable, not the error', async () => {
    const ready = await fetch(`${system.gatewayUrl}/health/ready`);
    expect(ready.status).toBe(200);
    // Redis rotates the password before the apps: every connection is refused its login from now on.
    await admin.config('SET', 'requirepass', rotated);
    await admin.auth(rotated);
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await admin.client('KILL', 'TYPE', 'pubsub');
    let body = '';
    await waitFor(
      async () => {
        const res = await fetch(`${system.gatewayUrl}/health/ready`);
        body = await res.text();
        return res.status === 503;
      },
      { timeoutMs: 15_000, message: 'the gateway stayed ready with its login refused' },
    );
    expect(JSON.parse(body)).toMatchObject({ error: { redis: { status: 'down', message: 'unavailable' } } });
    for (const app of system.apps) {
      const res = await fetch(`http://127.0.0.1:${app.port}/health/ready`);
      expect(await res.text()).not.toContain(password);
    }
    // The refusal is logged (WRONGPASS), without the password.
    await waitFor(() => /WRONGPASS|refused the login|NOAUTH/.test(everything()), {
      timeoutMs: 10_000,
      message: `no app logged the refused login:\n${everything()}`,
    });
    expect(everything()).not.toContain(password);
    await admin.config('SET', 'requirepass', password);
    await admin.auth(password);
    await waitFor(async () => (await fetch(`${system.gatewayUrl}/health/ready`)).ok, {
      timeoutMs: 15_000,
      message: 'the gateway did not come back with the password restored',
    });
    expect(everything()).not.toContain(password);
  });

  const wrong = 'aigw-e2e-wrong-password-42';
  // The server's port is known once it started.
  const at = (): string => `127.0.0.1:${redis.port}/0`;
  it.each([
    // Without the system's REDIS_PASSWORD (spawn leaves out a variable that is undefined).
    ['in REDIS_URL', () => ({ REDIS_URL: `redis://:${wrong}@${at()}`, REDIS_PASSWORD: undefined }), 'REDIS_URL'],
    ['REDIS_PASSWORD', () => ({ REDIS_URL: `redis://${at()}`, REDIS_PASSWORD: wrong }), 'REDIS_URL'],
    [
      'REDIS_PASSWORD other than the one in REDIS_URL',
      () => ({ REDIS_URL: `redis://:${password}@${at()}`, REDIS_PASSWORD: wrong }),
      'REDIS_URL carries a password other than REDIS_PASSWORD',
    ],
  ])('refused at boot (%s): the start fails naming the variable, not the password', async (_, redisEnv, named) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api-gateway/src/main.js')], {
      cwd: ROOT,
      env: {
        ...system.baseEnv(),
        ...redisEnv(),
        PORT: String(await freePort()),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain(named);
    if (named === 'REDIS_URL') {
      // Refused by Redis: named by host and port.
      expect(output).toContain(`127.0.0.1:${redis.port}`);
    }
    expect(output).not.toContain(wrong);
    expect(output).not.toContain(password);
  });
});
