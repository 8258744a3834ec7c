import dns, { type LookupAddress } from 'node:dns';
import { AddressRefusedError, guardedLookup, HttpPool, OpenAiAdapter, type AdapterTarget } from '@aigw/adapters';
import { ErrorClass, isMetadataAddress } from '@aigw/core';
import { failure } from './support/calls';
import { FakeUpstream, sendJson } from './support/fake-upstream';

const OK = {
  id: 'c',
  created: 1,
  choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

/**
 * An admin key can point a provider anywhere: at the cloud metadata service (169.254.169.254), its error messages
 * would carry the instance's credentials back. Those addresses are refused before connecting; loopback is not.
 */
describe('HttpPool: link-local and metadata addresses', () => {
  let up: FakeUpstream;
  const pools: HttpPool[] = [];
  const never = new AbortController().signal;
  const generate = (pool: HttpPool, baseUrl: string, timeoutMs = 5000) =>
    new OpenAiAdapter(pool).generate(
      {
        target: { baseUrl, model: 'm', timeoutMs, poolKey: 'p' } satisfies AdapterTarget,
        messages: [{ role: 'user', content: 'x' }],
        options: {},
      },
      never,
    );
  const poolOf = (allowLinkLocal?: boolean) => {
    const pool = new HttpPool({ allowLinkLocal });
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    up = await FakeUpstream.start();
    up.handler = (_req, res) => sendJson(res, 200, OK);
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.destroy()));
    await up.close();
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/role?',
    'http://169.254.170.2/v2/credentials',
    'http://2852039166/v1',
    'http://0xa9.0xfe.0xa9.0xfe/v1',
    'https://[fe80::1]/v1',
    'http://[::ffff:169.254.169.254]/v1',
    'http://[fd00:ec2::254]/v1',
    'http://100.100.100.200/v1',
    // EKS Pod Identity's IPv6 credentials agent, GCE's IPv6 metadata server.
    'http://[fd00:ec2::23]/v1',
    'http://[fd20:ce::254]/v1',
    // Alibaba's metadata through NAT64: the well-known prefix and the local-use one (cut at /48 and /96).
    'http://[64:ff9b::6464:64c8]/v1',
    'http://[64:ff9b::100.100.100.200]/v1',
    'http://[64:ff9b:1::6464:64c8]/v1',
    'http://[64:ff9b:1:6464:64:c800::]/v1',
    'http://[64:ff9b::a9fe:a9fe]/v1',
    // IPv4-compatible (deprecated, still mapped by some stacks), 6to4 and Teredo: each sends to the IPv4 it carries.
    'http://[::169.254.169.254]/v1',
    'http://[2002:a9fe:a9fe::1]/v1',
    'http://[2001:0:4136:e378:8000:63bf:5601:5601]/v1',
  ])('refuses %s at once, before any connection, naming the variable that allows it', async (baseUrl) => {
    const started = Date.now();
    const err = await failure(generate(poolOf(), baseUrl));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err.errorClass).toBe(ErrorClass.Gateway);
    expect(err.message).toMatch(/link-local .*PROVIDER_ALLOW_LINK_LOCAL=true/);
  });

  it('still calls loopback, by address and by a name (through the guarded lookup)', async () => {
    const pool = poolOf();
    expect((await generate(pool, `${up.origin}/v1`)).text).toBe('ok');
    expect((await generate(pool, `${up.origin.replace('127.0.0.1', 'localhost')}/v1`)).text).toBe('ok');
  });

  it('with allowLinkLocal it tries the address (and fails as an unreachable server does)', async () => {
    const err = await failure(generate(poolOf(true), 'http://169.254.169.254:9/v1', 300));
    expect(err.errorClass).not.toBe(ErrorClass.Gateway);
  });

  describe('a name resolving to a metadata address, through the pool', () => {
    // What DNS answers for these names: a wildcard name for the metadata service, and one that also names the fake
    // upstream (rebinding: the loopback address would be connected to, were the name not refused as a whole).
    const answers: Record<string, LookupAddress[]> = {
      'metadata.test': [{ address: '169.254.169.254', family: 4 }],
      'rebind.test': [
        { address: '127.0.0.1', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ],
      'loopback.test': [{ address: '127.0.0.1', family: 4 }],
    };
    let spy: jest.SpyInstance;
    beforeAll(() => {
      const real = dns.lookup.bind(dns) as (...args: unknown[]) => void;
      spy = jest.spyOn(dns, 'lookup').mockImplementation((host: string, ...rest: unknown[]) => {
        const callback = rest[rest.length - 1] as (e: Error | null, a: LookupAddress[] | string, f?: number) => void;
        const options = rest.length > 1 ? (rest[0] as { all?: boolean } | number | undefined) : undefined;
        const found = answers[host];
        if (found === undefined) {
          real(host, ...rest);
          return;
        }
        const all = typeof options === 'object' && options.all === true;
        process.nextTick(() => (all ? callback(null, found) : callback(null, found[0].address, found[0].family)));
      });
    });
    afterAll(() => spy.mockRestore());

    it('is refused before any connection, and nothing reaches the upstream', async () => {
      const port = new URL(up.origin).port;
      const pool = poolOf();
      // The answers above are what the pool's sockets resolve: a name of the upstream is called as usual.
      expect((await generate(pool, `http://loopback.test:${port}/v1`)).text).toBe('ok');
      const seen = [up.requests.length, up.connections];
      for (const host of ['metadata.test', 'rebind.test']) {
        const err = await failure(generate(pool, `http://${host}:${port}/v1`, 2000));
        expect(err).toBeInstanceOf(AddressRefusedError);
        expect(err.message).toMatch(new RegExp(`${host.replace('.', '\\.')} is link-local`));
      }
      expect([up.requests.length, up.connections]).toEqual(seen);
    });
  });

  it('the lookup refuses a name that resolves to such an address, and passes others through', async () => {
    const lookup = (host: string, all: boolean) =>
      new Promise<unknown>((resolve, reject) =>
        guardedLookup(host, { all }, (err, address) => (err ? reject(err) : resolve(address))),
      );
    await expect(lookup('169.254.169.254', false)).rejects.toThrow(/link-local/);
    await expect(lookup('169.254.169.254', true)).rejects.toThrow(/link-local/);
    await expect(lookup('localhost', false)).resolves.toEqual(expect.any(String));
    await expect(lookup('localhost', true)).resolves.toEqual(expect.arrayContaining([expect.anything()]));
  });

  it.each([
    ['169.254.169.254', true],
    ['[fe80::1]', true],
    ['127.0.0.1', false],
    ['10.0.0.5', false],
    ['192.168.1.20', false],
    ['[::1]', false],
    ['ollama.internal', false],
    ['[fd00:ec2::23]', true],
    ['[fd20:ce::254]', true],
    ['[64:ff9b::6464:64c8]', true],
    ['[64:ff9b:1::100.100.100.200]', true],
    ['[64:ff9b::808:808]', false],
    ['[64:ff9b:1::c0a8:114]', false],
    ['[fd00:ec3::254]', false],
    ['[::169.254.169.254]', true],
    ['[::a9fe:a9fe]', true],
    ['[::ffff:0:a9fe:a9fe]', true],
    ['[2002:a9fe:a9fe::1]', true],
    ['[2002:a9fe:a9fe:1:2:3:4:5]', true],
    ['[2002:6464:64c8::1]', true],
    ['[64:ff9b:1:a9fe:a9:fe00::]', true],
    ['[2001:0:a9fe:a9fe::1]', true],
    ['[2001:0:4136:e378:8000:63bf:5601:5601]', true],
    ['[::7f00:1]', false],
    ['[2002:c000:22d::1]', false],
    ['[2001:0:4136:e378:8000:63bf:3fff:fdd2]', false],
    ['[2002:a9fd:ffff::1]', false],
  ])('isMetadataAddress(%s) is %s', (host, expected) => {
    expect(isMetadataAddress(host)).toBe(expected);
  });
});
