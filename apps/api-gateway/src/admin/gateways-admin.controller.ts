import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import type { GatewayView } from './catalog-docs';
import { GatewaysAdminService } from './gateways-admin.service';
import { NoBody } from './action-body';

/** LiteLLM-compatible gateways: `{id, baseUrl, apiKey?, timeoutMs?}`; the key is write-only. */
@Controller('api/v1/ai/admin/gateways')
@Roles('admin')
export class GatewaysAdminController {
  constructor(private readonly gateways: GatewaysAdminService) {}

  @Get()
  list(): Promise<{ data: GatewayView[] }> {
    return this.gateways.list();
  }

  @Get(':gatewayId')
  get(@Param('gatewayId') id: string): Promise<GatewayView> {
    return this.gateways.get(id);
  }

  @Post()
  @HttpCode(201)
  create(@Body() body: Record<string, unknown>, @Caller() auth: AuthContext): Promise<GatewayView> {
    return this.gateways.create(body, auth);
  }

  @Patch(':gatewayId')
  update(
    @Param('gatewayId') id: string,
    @Body() body: Record<string, unknown>,
    @Caller() auth: AuthContext,
  ): Promise<GatewayView> {
    return this.gateways.update(id, body, auth);
  }

  @Delete(':gatewayId')
  @NoBody()
  remove(@Param('gatewayId') id: string, @Caller() auth: AuthContext): Promise<GatewayView> {
    return this.gateways.remove(id, auth);
  }
}
