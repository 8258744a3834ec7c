import { Controller, Delete, Get, Query } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { InvalidateCacheQuery } from './cache-admin.dto';
import { CacheAdminService, type CacheStatsView } from './cache-admin.service';

/** The response cache for admins (ADR 0005): clear, statistics. */
@Controller('api/v1/ai/admin/cache')
@Roles('admin')
export class CacheAdminController {
  constructor(private readonly cache: CacheAdminService) {}

  /** Every entry, `?model=` those of one requested model (with or without provider prefix), or `?prefix=` of a key. */
  @Delete()
  invalidate(@Query() query: InvalidateCacheQuery, @Caller() auth: AuthContext): Promise<{ deleted: number }> {
    return this.cache.invalidate(query, auth);
  }

  @Get('stats')
  stats(): Promise<CacheStatsView> {
    return this.cache.stats();
  }
}
