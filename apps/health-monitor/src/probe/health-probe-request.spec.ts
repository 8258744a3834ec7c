import { readHealthProbeRequest } from './health-probe-request';

describe('readHealthProbeRequest', () => {
  it('takes a saved provider by id, or unsaved settings without fields it does not know', () => {
    expect(readHealthProbeRequest({ providerId: 'zai' })).toEqual({ providerId: 'zai' });
    const unsaved = readHealthProbeRequest({
      provider: { kind: 'openai', baseUrl: 'http://x/v1', routing: 'auto', gatewayId: 'g', models: ['m'], extra: 1 },
    });
    expect(unsaved).toEqual({
      provider: { kind: 'openai', baseUrl: 'http://x/v1', routing: 'auto', gatewayId: 'g', models: ['m'] },
    });
    // The Gateway screen keeping its stored key: the gateway's id, never the key, travels.
    const storedKey = readHealthProbeRequest({
      provider: { kind: 'openai', baseUrl: 'http://x/v1', routing: 'direct', apiKeyFromGateway: 'litellm' },
    });
    expect(storedKey).toEqual({
      provider: { kind: 'openai', baseUrl: 'http://x/v1', routing: 'direct', apiKeyFromGateway: 'litellm' },
    });
  });

  it('names what is wrong, never echoing a value', () => {
    expect(readHealthProbeRequest(null)).toBe('The request must be an object.');
    expect(readHealthProbeRequest({ providerId: '' })).toBe("The request needs 'providerId' or 'provider'.");
    expect(readHealthProbeRequest({ provider: { kind: 'soap', baseUrl: 'x', routing: 'direct' } })).toMatch(
      /^'provider.kind' must be one of/,
    );
    const badKey = readHealthProbeRequest({
      provider: { kind: 'openai', baseUrl: 'x', routing: 'direct', apiKey: 42 },
    });
    expect(badKey).toBe("'provider.apiKey' must be a string.");
    const badKeeper = readHealthProbeRequest({
      provider: { kind: 'openai', baseUrl: 'x', routing: 'direct', apiKeyFromGateway: ['litellm'] },
    });
    expect(badKeeper).toBe("'provider.apiKeyFromGateway' must be a string.");
    expect(readHealthProbeRequest({ provider: { kind: 'openai', baseUrl: 'x', routing: 'sideways' } })).toMatch(
      /routing/,
    );
  });
});
