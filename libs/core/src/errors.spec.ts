import { anthropicErrorBody, ErrorCode, GatewayError, type ErrorBody } from './errors';

describe('GatewayError.fromBody', () => {
  it('keeps a code this release knows, with its param and attempts', () => {
    const body: ErrorBody = {
      message: 'All providers failed.',
      type: 'provider_error',
      code: ErrorCode.AllProvidersFailed,
      param: null,
      attempts: [],
    };
    const err = GatewayError.fromBody(body, 1000);
    expect(err.code).toBe(ErrorCode.AllProvidersFailed);
    expect(err.status).toBe(502);
    expect(err.retryAfterMs).toBe(1000);
    expect(err.toBody()).toEqual(body);
  });

  // A rolling upgrade runs a newer worker beside this gateway: its reply may carry a code added after this release
  // (as provider_overloaded was), which must still make a well-formed answer.
  it("reads a newer peer's unknown code as this release's code for its type", () => {
    const body = {
      message: "Provider 'p' is melting.",
      type: 'service_unavailable_error',
      code: 'provider_melting',
      param: null,
    } as unknown as ErrorBody; // a code this release's ErrorCode lacks
    const err = GatewayError.fromBody(body);
    expect(err.code).toBe(ErrorCode.ServiceUnavailable);
    expect(err.status).toBe(503);
    expect(err.message).toBe("Provider 'p' is melting.");
    expect(err.toBody()).toEqual({
      message: "Provider 'p' is melting.",
      type: 'service_unavailable_error',
      code: ErrorCode.ServiceUnavailable,
      param: null,
    });
    expect(anthropicErrorBody(err.toBody()).error.type).toBe('overloaded_error');
  });

  it('reads an unknown code with an unknown type as a provider error', () => {
    const body = {
      message: 'odd',
      type: 'melting_error',
      code: 'provider_melting',
      param: 'x',
    } as unknown as ErrorBody; // neither known
    const err = GatewayError.fromBody(body);
    expect(err.code).toBe(ErrorCode.ProviderError);
    expect(err.status).toBe(502);
    expect(err.toBody()).toMatchObject({ type: 'provider_error', code: 'provider_error', param: 'x' });
    expect(anthropicErrorBody(err.toBody()).error.type).toBe('api_error');
  });

  it('does not take a type inherited from Object as one of its own', () => {
    const body = { message: 'odd', type: 'toString', code: 'constructor', param: null } as unknown as ErrorBody; // neither known
    expect(GatewayError.fromBody(body).status).toBe(502);
  });
});
