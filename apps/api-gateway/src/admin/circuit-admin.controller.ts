import { Controller, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { NoBody } from './action-body';
import { CircuitAdminService, type CircuitResetView } from './circuit-admin.service';

@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class CircuitAdminController {
  constructor(private readonly circuits: CircuitAdminService) {}

  /** Closes the provider's circuits at once (all its models, or `?model=` only). */
  @Post(':id/circuit/reset')
  @HttpCode(200)
  @NoBody()
  reset(
    @Param('id') id: string,
    @Query('model') model: string | undefined,
    @Caller() auth: AuthContext,
  ): Promise<CircuitResetView> {
    return this.circuits.reset(id, model, auth);
  }
}
