import { api, ApiError, apiFile, errorOf, keyRefusedBy, normalizeKey } from './api';

describe('normalizeKey', () => {
  it('trims a key and strips a pasted "Bearer " prefix', () => {
    expect(normalizeKey('  sk-aigw-abc123 \n')).toBe('sk-aigw-abc123');
    expect(normalizeKey('Bearer sk-aigw-abc123')).toBe('sk-aigw-abc123');
    expect(normalizeKey('bearer   sk-aigw-abc123')).toBe('sk-aigw-abc123');
    expect(normalizeKey('sk-aigw-Bearer')).toBe('sk-aigw-Bearer');
  });

  it.each([['sk-aigw-ключ'], ['sk-aigw-café'], ['sk-aigw- two'], ['']])(
    'refuses %j as a key of invalid format',
    (input) => {
      let thrown: unknown;
      try {
        normalizeKey(input);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ApiError);
      expect((thrown as ApiError).message).toContain('invalid format');
      expect((thrown as ApiError).code).toBe('invalid_key_format');
    },
  );
});

describe('api', () => {
  it('says that an answer was not the API\'s JSON, and what it was, rather than a JSON parser\'s "Unexpected token"', async () => {
    // A page where the API's JSON should be, with a 200: what a sign-in proxy (oauth2-proxy, an SSO gateway) in front
    // of the gateway answers once its own session has expired. A data: URL answers it through the real fetch.
    const page = `data:text/html;charset=utf-8,${encodeURIComponent('<!doctype html><title>Sign in</title>')}`;
    let thrown: unknown;
    try {
      await api(page, { key: null });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).code).toBe('invalid_response');
    expect((thrown as ApiError).message).toBe(
      "The answer was not the gateway API's JSON (HTTP 200, text/html): a proxy in front of the gateway may have answered instead. Reload the page or sign in again.",
    );
  });

  it('a file download (the costs CSV) takes an answer of its type only: a page in its place is an ApiError', async () => {
    const csv = `data:text/csv;charset=utf-8,${encodeURIComponent('day,costUsd\r\n2026-12-01,0.5\r\n')}`;
    await expect(apiFile(csv, 'text/csv', 'CSV', { key: null })).resolves.toBe('day,costUsd\r\n2026-12-01,0.5\r\n');
    const page = `data:text/html;charset=utf-8,${encodeURIComponent('<!doctype html><title>Sign in</title>')}`;
    await expect(apiFile(page, 'text/csv', 'CSV', { key: null })).rejects.toMatchObject({
      code: 'invalid_response',
      message:
        "The answer was not the gateway API's CSV (HTTP 200, text/html): a proxy in front of the gateway may have answered instead. Reload the page or sign in again.",
    });
  });
});

describe('keyRefusedBy', () => {
  it("is the gateway's own 401 (its envelope) only, not a proxy's 401 page", async () => {
    const gateway = await errorOf(
      new Response(
        JSON.stringify({
          error: { message: 'Invalid API key.', type: 'authentication_error', code: 'invalid_api_key', param: null },
        }),
        {
          status: 401,
          headers: { 'content-type': 'application/json' },
        },
      ),
    );
    expect(keyRefusedBy(gateway)).toBe(true);
    const proxy = await errorOf(
      new Response('<!doctype html><title>Sign in</title>', {
        status: 401,
        statusText: 'Unauthorized',
        headers: { 'content-type': 'text/html' },
      }),
    );
    expect(keyRefusedBy(proxy)).toBe(false);
    expect(proxy.message).toBe(
      "401 Unauthorized: not the gateway's answer; a proxy in front of it may want you to sign in to it again (reload the page)",
    );
    expect(keyRefusedBy(new ApiError('Service unavailable.', 503, 'service_unavailable'))).toBe(false);
  });
});
