import { Controller, Get, Query } from '@nestjs/common';
import { Caller } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { UsageQueryDto } from './usage-query.dto';
import { UsageService, type UsageView } from './usage.service';

@Controller('api/v1/ai/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  /** The caller's own requests, tokens, cost and remaining quota; any role, own data only. */
  @Get()
  ofCaller(@Query() query: UsageQueryDto, @Caller() auth: AuthContext): Promise<UsageView> {
    return this.usage.ofCaller(query, auth);
  }
}
