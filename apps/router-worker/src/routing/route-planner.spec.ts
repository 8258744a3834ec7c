import { Logger } from '@nestjs/common';
import type { Deployment } from '@aigw/core';
import type { CatalogService } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { deployment, generationRequest } from '../generation/request.fixtures';
import type { WorkerMetrics } from '../metrics/worker-metrics';
import type { CircuitGuard } from './circuit-guard';
import { RoutePlanner } from './route-planner';
import type { RoutingConfig } from './routing-config';

/** RoutePlanner with only what the ROUTING_DEFAULT_MODEL check touches; the other collaborators are never called. */
function planner(defaultModel: string, served: () => boolean): { reload: () => void } {
  const listeners: (() => void)[] = [];
  const catalog = {
    servingDeployments: () => (served() ? [{}] : []),
    onReload: (l: () => void) => listeners.push(l),
  } as unknown as CatalogService;
  const unused = undefined as never;
  const p = new RoutePlanner(
    { LOG_LEVEL: 'log' } as WorkerEnv,
    catalog,
    unused,
    unused,
    unused,
    unused,
    unused,
    { defaultModel } as RoutingConfig,
    unused,
  );
  p.onApplicationBootstrap();
  return { reload: () => listeners.forEach((l) => l()) };
}

describe('RoutePlanner: ROUTING_DEFAULT_MODEL against the catalog', () => {
  it('warns once when it names no deployment, and says when it is served again, at the same level', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    let served = false;
    const p = planner('no-such-model', () => served);
    p.reload();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain("ROUTING_DEFAULT_MODEL 'no-such-model' names no enabled deployment");
    served = true;
    p.reload();
    p.reload();
    // A warning too: LOG_LEVEL=warn showed the first line and hid this one.
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1][0]).toBe("ROUTING_DEFAULT_MODEL 'no-such-model' is served again");
    expect(log).not.toHaveBeenCalled();
    warn.mockRestore();
    log.mockRestore();
  });
});

/** RoutePlanner over a catalog that learns of a deployment only when reloaded (an admin change on its way). */
function plannerBehindTheCatalog(
  readAt: number,
  logLevel: WorkerEnv['LOG_LEVEL'] = 'log',
): { p: RoutePlanner; reloads: () => number } {
  let known: Deployment[] = [];
  let reloads = 0;
  const catalog = {
    deployments: () => known,
    failingProviders: () => new Set<string>(),
    unservedDeployments: () => new Set<string>(),
    get readAt() {
      return readAt;
    },
    reload: () => {
      reloads++;
      known = [deployment({ id: 'fresh' }, { name: 'fresh-model' })];
      readAt = Date.now();
      return Promise.resolve();
    },
  } as unknown as CatalogService;
  const circuits = { statesFor: () => Promise.resolve(new Map()) } as unknown as CircuitGuard;
  const metrics = { routingDecisions: { add: () => undefined } } as unknown as WorkerMetrics;
  const unused = undefined as never;
  const p = new RoutePlanner(
    { LOG_LEVEL: logLevel } as WorkerEnv,
    catalog,
    circuits,
    unused,
    unused,
    unused,
    unused,
    { defaultModel: null, defaultPolicy: 'cost', avgCompletionTokens: 256 } as unknown as RoutingConfig,
    metrics,
  );
  return { p, reloads: () => reloads };
}

describe('RoutePlanner: a model the worker does not know yet', () => {
  it('reads the catalog again for a request newer than its catalog, and routes it', async () => {
    const { p, reloads } = plannerBehindTheCatalog(Date.now() - 1_000);
    const request = generationRequest({ model: 'fresh/fresh-model', receivedAt: Date.now(), policy: 'cost' });
    const plan = await p.plan(request);
    expect(plan.candidates.map((d) => d.id)).toEqual(['fresh/fresh-model']);
    expect(reloads()).toBe(1);
  });

  it('answers 404 without a read when its catalog is newer than the request, and reads at most once a second', async () => {
    const stale = plannerBehindTheCatalog(Date.now() + 60_000);
    await expect(stale.p.plan(generationRequest({ model: 'nope/none', receivedAt: Date.now() }))).rejects.toMatchObject(
      {
        code: 'model_not_found',
      },
    );
    expect(stale.reloads()).toBe(0);

    const behind = plannerBehindTheCatalog(0);
    for (let i = 0; i < 3; i++) {
      await expect(
        behind.p.plan(generationRequest({ model: 'nope/none', receivedAt: Date.now() + 1 })),
      ).rejects.toMatchObject({
        code: 'model_not_found',
      });
    }
    expect(behind.reloads()).toBe(1);
  });
});

describe('RoutePlanner: decision lines at debug level', () => {
  it("name the client's own x-request-id beside the request id, routed or not", async () => {
    const debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    try {
      const { p } = plannerBehindTheCatalog(Date.now() - 1_000, 'debug');
      const ids = { requestId: 'req_1', clientRequestId: 'client-7' };
      await p.plan(generationRequest({ ...ids, model: 'fresh/fresh-model', receivedAt: Date.now(), policy: 'cost' }));
      await expect(p.plan(generationRequest({ ...ids, model: 'nope/none', receivedAt: 0 }))).rejects.toMatchObject({
        code: 'model_not_found',
      });
      const lines = debug.mock.calls.map((c) => String(c[0]));
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line).toMatch(/^request client-7 \(request id req_1\): policy /);
      }
    } finally {
      debug.mockRestore();
    }
  });
});
