import type { RouteProbe } from '@aigw/adapters';
import { unservedVerdict } from './health-jobs';
import type { ProbedRoute } from './prober';

const routed = (probe: RouteProbe): ProbedRoute => ({
  probe,
  check: { route: probe.route, ok: probe.ok, latencyMs: 1, status: 200, errorClass: null, message: null },
});
const listed = (route: 'direct' | 'gateway', unservedModels?: string[]): ProbedRoute =>
  routed({ route, ok: true, latencyMs: 1, modelsChecked: true, ...(unservedModels ? { unservedModels } : {}) });
const failed = (route: 'direct' | 'gateway'): ProbedRoute => routed({ route, ok: false, latencyMs: 1 });

describe('unservedVerdict', () => {
  it("is what the one route's list lacks, none when it lacks nothing", () => {
    expect(unservedVerdict([listed('direct', ['a', 'b'])])).toEqual(['a', 'b']);
    expect(unservedVerdict([listed('direct')])).toEqual([]);
  });

  it('is what every route lacks: an auto provider reaches through its gateway what direct lacks', () => {
    expect(unservedVerdict([listed('direct', ['a', 'b']), listed('gateway', ['b', 'c'])])).toEqual(['b']);
    expect(unservedVerdict([listed('direct', ['a']), listed('gateway')])).toEqual([]);
  });

  it('is none when a route could not tell (failed, a completion probe): the last verdict stands', () => {
    expect(unservedVerdict([failed('direct')])).toBeUndefined();
    expect(unservedVerdict([listed('direct', ['a']), failed('gateway')])).toBeUndefined();
    expect(unservedVerdict([routed({ route: 'direct', ok: true, latencyMs: 1 })])).toBeUndefined();
    expect(unservedVerdict([])).toBeUndefined();
  });
});
