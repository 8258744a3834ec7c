import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, getSchemaPath } from '@nestjs/swagger';
import { Roles } from '../auth/roles';
import {
  ProviderHealthAdminService,
  type ProviderHealthHistoryView,
  type ProviderModelsView,
} from './provider-health-admin.service';
import { ProviderHealthQueryDto } from './provider-health.dto';
import { ProviderQuotaDto } from './provider-quota.dto';
import { ProvidersAdminService, type ProviderListItem } from './providers-admin.service';

/**
 * The list's items as the OpenAPI document shows them: `quota` in full; the other fields are named in the operation's
 * description (the README's admin API table has them all).
 */
const LIST_SCHEMA = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: true,
        properties: {
          id: { type: 'string' },
          quota: { nullable: true, allOf: [{ $ref: getSchemaPath(ProviderQuotaDto) }] },
        },
      },
    },
  },
};

/** Reading providers: the list with health, circuits, route in use, quota and usage. Changes: ProviderCommandsController. */
@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class ProvidersAdminController {
  constructor(
    private readonly providers: ProvidersAdminService,
    private readonly health: ProviderHealthAdminService,
  ) {}

  @Get()
  @ApiExtraModels(ProviderQuotaDto)
  @ApiOkResponse({ description: 'Every provider of the catalog, sorted by id.', schema: LIST_SCHEMA })
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
