import { api, ApiError, apiFile, normalizeKey } from './api';

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
