import { ErrorClass, ProviderCallError } from '@aigw/core';
import { AddressRefusedError } from '../http/address-guard';
import { diagnose, type DiagnosisContext } from './diagnosis';

const ctx: DiagnosisContext = {
  route: 'direct',
  kind: 'openai',
  baseUrl: 'https://u:p@api.example.com/v1?key=s',
  timeoutMs: 500,
};
const http = (status: number): ProviderCallError =>
  new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: nope`, { status });

describe('diagnose', () => {
  it('maps statuses the transport tests do not reach', () => {
    expect(diagnose(http(402), ctx).code).toBe('unauthorized');
    expect(diagnose(http(405), ctx).code).toBe('not_found');
    expect(diagnose(http(301), ctx)).toMatchObject({ code: 'not_found' });
    expect(diagnose(http(400), ctx).code).toBe('bad_response');
    expect(diagnose(http(529), ctx).code).toBe('server_error');
  });

  it('words the path hint per wire format and route', () => {
    expect(diagnose(http(404), { ...ctx, kind: 'anthropic' }).suggestion).toContain('without /v1');
    expect(diagnose(http(404), { ...ctx, route: 'gateway' }).suggestion).toContain('LiteLLM');
    expect(diagnose(http(404), { ...ctx, healthPath: '/healthz' }).suggestion).toContain('healthPath (/healthz)');
  });

  it('reads the transport code through wrapped and grouped causes', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const grouped = new AggregateError([refused], 'all attempts failed');
    const err = new ProviderCallError(ErrorClass.Network, 'upstream network error', {
      cause: new TypeError('fetch failed', { cause: grouped }),
    });
    expect(diagnose(err, ctx).code).toBe('connection_refused');
  });

  it('says a link-local address was refused, not that something answered', () => {
    const d = diagnose(new AddressRefusedError('169.254.169.254'), { ...ctx, baseUrl: 'http://169.254.169.254/v1' });
    expect(d.code).toBe('connection_refused');
    expect(d.message).toContain('did not connect to 169.254.169.254');
    expect(d.suggestion).toContain('PROVIDER_ALLOW_LINK_LOCAL=true');
  });

  it('never shows the URL credentials or query', () => {
    const d = diagnose(http(500), ctx);
    expect(d.message).toContain('https://api.example.com/v1');
    expect(JSON.stringify(d)).not.toMatch(/u:p@|key=s/);
  });
});
