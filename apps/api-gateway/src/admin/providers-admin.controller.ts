import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiExtraModels } from '@nestjs/swagger';
import { Roles } from '../auth/roles';
import {
  ProviderHealthAdminService,
  type ProviderHealthHistoryView,
  type ProviderModelsView,
} from './provider-health-admin.service';
import { ProviderHealthQueryDto } from './provider-health.dto';
import { ProviderQuotaDto } from './provider-quota.dto';
import { ProvidersAdminService, type ProviderListItem } from './providers-admin.service';

@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class ProvidersAdminController {
  constructor(
    private readonly providers: ProvidersAdminService,
    private readonly health: ProviderHealthAdminService,
  ) {}

  @Get()
  // The list's `quota` (AdminProviderListItem in docs/response-schemas.ts) refers to this component.
  @ApiExtraModels(ProviderQuotaDto)
  list(): Promise<{ data: ProviderListItem[] }> {
    return this.providers.list();
  }

  /** Probe history in `[from, to)` (default: the last 24 h), newest first, and uptime over the whole range. */
  @Get(':id/health')
  history(@Param('id') id: string, @Query() query: ProviderHealthQueryDto): Promise<ProviderHealthHistoryView> {
    return this.health.history(id, query);
  }

  /** What the provider serves (as the monitor last found) against what the catalog lists. */
  @Get(':id/models')
  models(@Param('id') id: string): Promise<ProviderModelsView> {
    return this.health.models(id);
  }
}
