import { Body, Controller, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { NoBody } from './action-body';
import { UpdateQuotaDto } from './admin.dto';
import type { QuotaUsageView, QuotaView } from './admin-views';
import { QuotasAdminService } from './quotas-admin.service';

@Controller('api/v1/ai/admin/quotas')
@Roles('admin')
export class QuotasAdminController {
  constructor(private readonly quotas: QuotasAdminService) {}

  @Get(':userId')
  get(@Param('userId') userId: string): Promise<QuotaUsageView> {
    return this.quotas.get(userId);
  }

  @Put(':userId')
  update(
    @Param('userId') userId: string,
    @Body() dto: UpdateQuotaDto,
    @Caller() auth: AuthContext,
  ): Promise<QuotaView> {
    return this.quotas.update(userId, dto, auth);
  }

  @Post(':userId/reset')
  @HttpCode(200)
  @NoBody()
  reset(@Param('userId') userId: string, @Caller() auth: AuthContext): Promise<QuotaUsageView> {
    return this.quotas.reset(userId, auth);
  }
}
