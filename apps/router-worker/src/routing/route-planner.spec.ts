import { Logger } from '@nestjs/common';
import type { CatalogService } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
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
  it('warns once when it names no deployment, and says when it is served again', () => {
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
    expect(log).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    log.mockRestore();
  });
});
