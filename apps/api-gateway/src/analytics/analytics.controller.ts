import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/roles';
import { AdminUsageQueryDto, CostsQueryDto, RangeQueryDto } from './analytics-query.dto';
import { AnalyticsService, type AdminUsageView, type CostsView, type MetricsView } from './analytics.service';

/** Usage and cost analytics and gateway statistics for admins (answered from the usage rollups). */
@Controller('api/v1/ai')
@Roles('admin')
export class AnalyticsController {
  constructor(private readonly analytics: AnalyticsService) {}

  @Get('admin/usage')
  usage(@Query() query: AdminUsageQueryDto): Promise<AdminUsageView> {
    return this.analytics.usage(query);
  }

  /** JSON, or with `format=csv` a download of the groups. */
  @Get('admin/costs')
  async costs(
    @Query() query: CostsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CostsView | string> {
    const view = await this.analytics.costs(query);
    if (query.format !== 'csv') {
      return view;
    }
    void reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header(
        'content-disposition',
        `attachment; filename="costs-by-${view.by}-${view.from.slice(0, 10)}-${view.to.slice(0, 10)}.csv"`,
      );
    return this.analytics.costsCsv(view);
  }

  @Get('metrics')
  @Header('cache-control', 'no-store')
  metrics(@Query() query: RangeQueryDto): Promise<MetricsView> {
    return this.analytics.metrics(query);
  }
}
