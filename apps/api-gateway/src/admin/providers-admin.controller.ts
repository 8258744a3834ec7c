import { Controller, Get } from '@nestjs/common';
import { Roles } from '../auth/roles';
import { ProvidersAdminService, type ProviderListItem } from './providers-admin.service';

/** Reading providers: the list with health, circuits, route in use and usage. Changes: ProviderCommandsController. */
@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class ProvidersAdminController {
  constructor(private readonly providers: ProvidersAdminService) {}

  @Get()
  list(): Promise<{ data: ProviderListItem[] }> {
    return this.providers.list();
  }
}
