import { Logger } from '@nestjs/common';
import type { ApiKeyStore } from '@aigw/entities';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { ApiKeyAuthenticator } from './api-key-authenticator';

/** The store's `last_used_at` write, each call held until the test settles it. */
class TouchStore {
  readonly calls: { batch: Map<string, Date>; settle: (err?: Error) => void }[] = [];

  touchLastUsed(batch: Map<string, Date>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({ batch, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }
}

function pgError(code: string): Error {
  return Object.assign(new Error(`pg ${code}`), { code });
}

const caller = (apiKeyId: string): AuthContext => ({ apiKeyId }) as AuthContext;
const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ApiKeyAuthenticator key-use writes', () => {
  let store: TouchStore;
  let auth: ApiKeyAuthenticator;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    store = new TouchStore();
    const env = { AUTH_CACHE_TTL_MS: 5000 } as GatewayEnv;
    auth = new ApiKeyAuthenticator(env, store as unknown as ApiKeyStore, {});
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('keeps a batch PostgreSQL could not be reached for, and writes it with the next flush', async () => {
    auth.used(caller('k1'), 1_000);
    const first = auth.flushTouches();
    store.calls[0].settle(pgError('ECONNREFUSED'));
    await first;
    auth.used(caller('k2'), 2_000);
    const second = auth.flushTouches();
    expect([...store.calls[1].batch.keys()].sort()).toEqual(['k1', 'k2']);
    store.calls[1].settle();
    await second;
    // The failure and its end, both at warn: LOG_LEVEL=warn showed the failure and hid its end.
    expect(warn.mock.calls.map((c: unknown[]) => String(c[0]))).toEqual([
      expect.stringMatching(/^could not record key usage \(1 keys\), will retry: /),
      'key usage recorded again (2 keys)',
    ]);
  });

  it('drops a batch refused for another reason (it would fail every time) and says so', async () => {
    auth.used(caller('k1'), 1_000);
    const first = auth.flushTouches();
    store.calls[0].settle(pgError('42501'));
    await first;
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('dropped'));
    await auth.flushTouches();
    expect(store.calls).toHaveLength(1);
  });

  it('does not start a write while one is still running: the next tick joins it', async () => {
    auth.used(caller('k1'), 1_000);
    const first = auth.flushTouches();
    auth.used(caller('k2'), 2_000);
    const joined = auth.flushTouches();
    await flushed();
    expect(store.calls).toHaveLength(1);
    store.calls[0].settle();
    await Promise.all([first, joined]);
    // The use recorded meanwhile goes with the next write.
    const next = auth.flushTouches();
    expect([...store.calls[1].batch.keys()]).toEqual(['k2']);
    store.calls[1].settle();
    await next;
  });

  it('at shutdown waits for a write in flight, then writes what came since', async () => {
    auth.used(caller('k1'), 1_000);
    void auth.flushTouches();
    auth.used(caller('k2'), 2_000);
    const closing = auth.beforeApplicationShutdown();
    store.calls[0].settle();
    await waitForCalls(store, 2);
    expect([...store.calls[1].batch.keys()]).toEqual(['k2']);
    store.calls[1].settle();
    await closing;
  });
});

async function waitForCalls(store: TouchStore, n: number): Promise<void> {
  for (let i = 0; i < 100 && store.calls.length < n; i++) {
    await flushed();
  }
}
