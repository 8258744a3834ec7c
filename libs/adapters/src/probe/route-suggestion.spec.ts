import type { RouteProbe } from './probe-route';
import { suggestRoute } from './route-suggestion';

const refused: RouteProbe = {
  route: 'direct',
  ok: false,
  latencyMs: 1,
  diagnosis: { code: 'connection_refused', message: 'm', suggestion: 's' },
};
const works = (route: 'direct' | 'gateway'): RouteProbe => ({ route, ok: true, latencyMs: 3, status: 200 });

describe('suggestRoute', () => {
  it('suggests the gateway, as YAML and as the admin PATCH body, when direct fails and the gateway works', () => {
    const s = suggestRoute({ id: 'zai', routing: 'auto', gatewayId: 'litellm' }, [refused, works('gateway')]);
    expect(s).toEqual({
      code: 'use_gateway',
      message: expect.stringContaining('route this provider through the gateway') as string,
      yaml: 'routing: gateway\ngateway: litellm\n',
      patch: { routing: 'gateway', gatewayId: 'litellm' },
    });
    expect(s?.message).toContain('connection_refused');
  });

  it('says nothing when direct works, both fail, there is no gateway, or the provider is already on it', () => {
    const failedGateway: RouteProbe = { ...refused, route: 'gateway' };
    expect(suggestRoute({ id: 'p', routing: 'auto', gatewayId: 'g' }, [works('direct'), works('gateway')])).toBe(
      undefined,
    );
    expect(suggestRoute({ id: 'p', routing: 'auto', gatewayId: 'g' }, [refused, failedGateway])).toBeUndefined();
    expect(suggestRoute({ id: 'p', routing: 'direct' }, [refused])).toBeUndefined();
    expect(suggestRoute({ id: 'p', routing: 'gateway', gatewayId: 'g' }, [works('gateway')])).toBeUndefined();
  });

  it('also suggests it for a direct provider given a gateway route result', () => {
    const s = suggestRoute({ id: 'p', routing: 'direct', gatewayId: 'g' }, [refused, works('gateway')]);
    expect(s?.patch).toEqual({ routing: 'gateway', gatewayId: 'g' });
  });
});
