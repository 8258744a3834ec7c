import Fastify from 'fastify';
import { corsOriginsOf, installCors } from './cors';

const HEADERS = { allow: ['authorization'], expose: ['x-request-id'], maxAgeS: 600 };

describe('corsOriginsOf', () => {
  it('reads empty as none, * alone, and exact origins', () => {
    expect(corsOriginsOf('')).toBeNull();
    expect(corsOriginsOf('  ')).toBeNull();
    expect(corsOriginsOf('*')).toBe('*');
    expect(corsOriginsOf('https://app.example.com, http://localhost:5173,http://[::1]:8080')).toEqual(
      new Set(['https://app.example.com', 'http://localhost:5173', 'http://[::1]:8080']),
    );
  });

  it.each([
    ['app.example.com', /'app.example.com' is not an origin \(scheme:\/\/host\[:port\]\)/],
    [
      'https://app.example.com/',
      /'https:\/\/app.example.com\/' is not written as browsers send it: write https:\/\/app.example.com$/,
    ],
    ['https://App.Example.com', /write https:\/\/app.example.com$/],
    ['https://app.example.com:443', /write https:\/\/app.example.com$/],
    [
      'https://app.example.com/ui',
      /has more than scheme:\/\/host\[:port\] \(a path, query or user\): write https:\/\/app.example.com$/,
    ],
    ['ftp://files.example.com', /'ftp:\/\/files.example.com' is not an http or https origin/],
    ['https://a.example,*', /'\*' must be alone/],
    ['https://a.example,', /'' is not an origin/],
  ])('refuses %j in one line naming the variable and the entry', (value, why) => {
    expect(() => corsOriginsOf(value)).toThrow(/^CORS_ORIGINS must be empty, \* or a comma-separated list of origins/);
    expect(() => corsOriginsOf(value)).toThrow(why);
  });
});

describe('installCors', () => {
  it('registers nothing when no origin is set: no hook on the request path', async () => {
    const fastify = Fastify();
    const addHook = jest.spyOn(fastify, 'addHook');
    installCors(fastify, null, HEADERS);
    expect(addHook).not.toHaveBeenCalled();
    fastify.get('/x', () => 'ok');
    const res = await fastify.inject({ url: '/x', headers: { origin: 'https://app.example.com' } });
    expect(Object.keys(res.headers).filter((n) => n.startsWith('access-control-') || n === 'vary')).toEqual([]);
    await fastify.close();
  });

  it('answers a listed origin, and a preflight before the route', async () => {
    const fastify = Fastify();
    installCors(fastify, corsOriginsOf('https://app.example.com'), HEADERS);
    fastify.post('/x', () => 'ok');
    const pre = await fastify.inject({
      method: 'OPTIONS',
      url: '/x',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'authorization',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    const res = await fastify.inject({ method: 'POST', url: '/x', headers: { origin: 'https://app.example.com' } });
    expect(res.headers['access-control-expose-headers']).toBe('x-request-id');
    const other = await fastify.inject({ method: 'POST', url: '/x', headers: { origin: 'https://app.example.org' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers.vary).toBe('Origin');
    await fastify.close();
  });
});
