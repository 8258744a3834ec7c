import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { InvalidateCacheQuery, WarmCacheDto } from './cache-admin.dto';
import { CacheAdminService, type CacheStatsView } from './cache-admin.service';
import { CacheWarmer, type WarmReport } from './cache-warmer';
import { NoBody } from '../admin/action-body';

/** The response cache for admins (ADR 0005): clear, statistics, warming. */
@Controller('api/v1/ai/admin/cache')
@Roles('admin')
export class CacheAdminController {
  constructor(
    private readonly cache: CacheAdminService,
    private readonly warmer: CacheWarmer,
  ) {}

  /**
   * Every entry, `?model=` those of one requested model (with or without provider prefix) and the aliases' entries it
   * answered, or `?prefix=` of a key.
   */
  @Delete()
  @NoBody()
  invalidate(@Query() query: InvalidateCacheQuery, @Caller() auth: AuthContext): Promise<{ deleted: number }> {
    return this.cache.invalidate(query, auth);
  }

  @Get('stats')
  stats(): Promise<CacheStatsView> {
    return this.cache.stats();
  }

  /** Runs the requests as low-priority jobs that fill the cache; answers once they are done (at most 60 s). */
  @Post('warm')
  @HttpCode(200)
  warm(@Body() dto: WarmCacheDto, @Caller() auth: AuthContext): Promise<WarmReport> {
    return this.warmer.warm(dto.requests, auth);
  }
}
