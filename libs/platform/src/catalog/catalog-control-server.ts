import type { INestApplicationContext } from '@nestjs/common';
import { ControlServer } from '../redis/control-transport';
import { RedisErrors } from '../redis/redis-errors';
import { CatalogService } from './catalog.service';

/**
 * The control server of an app that keeps a catalog (every app): when its subscription comes back after a dropped
 * connection, the catalog is re-read, since a `provider.changed` published meanwhile was lost (an admin's delete or
 * disable would otherwise go unseen by this process until the next periodic reload).
 */
export function catalogControlServer(app: INestApplicationContext, redisUrl: string, namespace = ''): ControlServer {
  const catalog = app.get(CatalogService);
  return new ControlServer(redisUrl, app.get(RedisErrors), namespace, () =>
    catalog.refresh('control subscription back'),
  );
}
