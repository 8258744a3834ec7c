import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import { RawBody } from '../http/raw-body';
import type { AuthContext } from '../http/request-context';
import type { ModelView, ProviderView } from './catalog-docs';
import { ProviderCommandsService, type ProviderStarts } from './provider-commands.service';
import { NoBody } from './action-body';

/**
 * Changes to providers and their models. Bodies use the catalog file's field names (`gatewayId` is accepted for
 * `gateway`) and are validated as the file is; `apiKey` is write-only. The list and health views live in the
 * monitor's providers controller on the same path.
 */
@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class ProviderCommandsController {
  constructor(private readonly providers: ProviderCommandsService) {}

  @Get('templates')
  templates(): ProviderStarts {
    return this.providers.templates();
  }

  /** From scratch, or `{template: "zai", ...overrides}`. */
  @Post()
  @HttpCode(201)
  create(@Body() body: Record<string, unknown>, @Caller() auth: AuthContext): Promise<ProviderView> {
    return this.providers.create(body, auth);
  }

  @Patch(':providerId')
  update(
    @Param('providerId') id: string,
    @Body() body: Record<string, unknown>,
    @Caller() auth: AuthContext,
  ): Promise<ProviderView> {
    return this.providers.update(id, body, auth);
  }

  /** Flips `enabled`; a body `{enabled}` sets it instead. */
  @Post(':providerId/toggle')
  @HttpCode(200)
  toggle(
    @Param('providerId') id: string,
    @RawBody() body: unknown,
    @Caller() auth: AuthContext,
  ): Promise<ProviderView> {
    return this.providers.toggle(id, body, auth);
  }

  @Delete(':providerId')
  @NoBody()
  remove(@Param('providerId') id: string, @Caller() auth: AuthContext): Promise<ProviderView> {
    return this.providers.remove(id, auth);
  }

  @Post(':providerId/models')
  @HttpCode(201)
  createModel(
    @Param('providerId') id: string,
    @Body() body: Record<string, unknown>,
    @Caller() auth: AuthContext,
  ): Promise<ModelView> {
    return this.providers.createModel(id, body, auth);
  }

  @Patch(':providerId/models/:model')
  updateModel(
    @Param('providerId') id: string,
    @Param('model') model: string,
    @Body() body: Record<string, unknown>,
    @Caller() auth: AuthContext,
  ): Promise<ModelView> {
    return this.providers.updateModel(id, model, body, auth);
  }

  @Delete(':providerId/models/:model')
  @NoBody()
  removeModel(
    @Param('providerId') id: string,
    @Param('model') model: string,
    @Caller() auth: AuthContext,
  ): Promise<ModelView> {
    return this.providers.removeModel(id, model, auth);
  }
}
