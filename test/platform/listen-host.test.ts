import { readFileSync } from 'node:fs';
import { createServer, type ListenOptions, type Server } from 'node:net';
import { join } from 'node:path';
import { Controller, Get, Logger, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadAll } from 'js-yaml';
import { BaseEnv, createHttpApp, listen, ShutdownModule, StartupError, startFailureReport } from '@aigw/platform';

@Controller()
class PingController {
  @Get('ping')
  ping(): { ok: true } {
    return { ok: true };
  }
}

@Module({ imports: [ShutdownModule], controllers: [PingController] })
class PingModule {}

/**
 * The HOST the k8s ConfigMap gives every app. A pod of an IPv6-only cluster has only an IPv6 address, one of a
 * dual-stack cluster both: `0.0.0.0` listens on IPv4 alone, so its probes and Service traffic over IPv6 were
 * refused. `::` listens on both (Linux's default `net.ipv6.bindv6only=0`: IPv4 peers arrive as ::ffff:a.b.c.d).
 */
describe("the k8s ConfigMap's HOST", () => {
  const docs = loadAll(readFileSync(join(__dirname, '../../k8s/configmap.yaml'), 'utf8')) as {
    metadata: { name: string };
    data?: Record<string, string>;
  }[];
  const host = docs.find((d) => d.metadata.name === 'ai-gateway-config')?.data?.HOST ?? '';
  let app: NestFastifyApplication;

  afterAll(async () => {
    await app?.close();
  });

  it('is where an app answers over IPv4 and over IPv6', async () => {
    const env = new BaseEnv();
    app = await createHttpApp(PingModule, env, 'listen-host', { host, port: 0 }, { handleSignals: false });
    const logged: string[] = [];
    jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
    await listen(app, { host, port: 0 }, 'listen-host');
    jest.restoreAllMocks();
    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const answer = async (origin: string): Promise<unknown> => {
      try {
        const res = await fetch(`http://${origin}:${port}/ping`);
        return { status: res.status, body: await res.json() };
      } catch (err) {
        return String((err as { cause?: unknown }).cause ?? err);
      }
    };
    expect(await answer('127.0.0.1')).toEqual({ status: 200, body: { ok: true } });
    expect(await answer('[::1]')).toEqual({ status: 200, body: { ok: true } });
    // The address as in a URL (an IPv6 one in brackets).
    expect(logged).toEqual([`listening on http://[::]:${port}`]);
  });
});

describe('HOST=:: on a host without IPv6', () => {
  /** An app whose server meets `code` on every listen on `::`, as a kernel booted with ipv6.disable=1 answers. */
  async function appFailingOnIpv6(name: string, code: string): Promise<NestFastifyApplication> {
    const app = await createHttpApp(PingModule, new BaseEnv(), name, { host: '::', port: 0 }, { handleSignals: false });
    const server = app.getHttpServer();
    const listenReally = server.listen.bind(server);
    server.listen = ((options: ListenOptions, ...rest: unknown[]) => {
      if (options.host !== '::') {
        return listenReally(options, ...(rest as [() => void]));
      }
      process.nextTick(() => server.emit('error', Object.assign(new Error(`listen ${code} :::0`), { code })));
      return server;
    }) as typeof server.listen;
    return app;
  }

  afterEach(() => jest.restoreAllMocks());

  it('listens on 0.0.0.0 with a warning instead of failing the start', async () => {
    const app = await appFailingOnIpv6('no-ipv6', 'EAFNOSUPPORT');
    try {
      const warned: string[] = [];
      const logged: string[] = [];
      jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warned.push(String(message)));
      jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => void logged.push(String(message)));
      await listen(app, { host: '::', port: 0 }, 'no-ipv6');
      const address = app.getHttpServer().address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      expect((await fetch(`http://127.0.0.1:${port}/ping`)).status).toBe(200);
      expect(warned).toEqual([expect.stringContaining('listening on 0.0.0.0 (IPv4) instead')]);
      expect(logged).toEqual([`listening on http://0.0.0.0:${port}`]);
    } finally {
      await app.close();
    }
  });

  it('still fails the start on any other error', async () => {
    const app = await appFailingOnIpv6('other', 'EADDRINUSE');
    try {
      await expect(listen(app, { host: '::', port: 0 }, 'other')).rejects.toThrow('EADDRINUSE');
    } finally {
      await app.close();
    }
  });
});

/** A PORT something else holds, or a HOST that is no address here: one line naming the variable, not a stack. */
describe('an app that cannot listen where PORT and HOST say', () => {
  let app: NestFastifyApplication | undefined;
  let taken: Server | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await new Promise<void>((resolve) => (taken ? taken.close(() => resolve()) : resolve()));
    taken = undefined;
  });

  async function failureOf(host: string, port: number): Promise<unknown> {
    app = await createHttpApp(PingModule, new BaseEnv(), 'listen-host', { host, port }, { handleSignals: false });
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      await listen(app, { host, port }, 'listen-host');
      return null;
    } catch (err) {
      return err;
    } finally {
      jest.restoreAllMocks();
    }
  }

  it('names PORT when the port is taken', async () => {
    const server = createServer();
    taken = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const err = await failureOf('127.0.0.1', port);
    expect(err).toBeInstanceOf(StartupError);
    expect(startFailureReport('api-gateway', err, {})).toBe(
      `[api-gateway] failed to start: 127.0.0.1:${port} is already in use (EADDRINUSE): set PORT to a free port, or stop what listens there\n`,
    );
  });

  it('names HOST when it is no address of this machine', async () => {
    const err = await failureOf('192.0.2.1', 0);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(
      'HOST 192.0.2.1 is no address of this machine (EADDRNOTAVAIL): set HOST to one of its addresses, 0.0.0.0 or ::',
    );
  });
});
