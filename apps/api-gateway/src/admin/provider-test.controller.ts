import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import type { ConnectionTestResult } from '@aigw/core';
import { Roles } from '../auth/roles';
import { NoBody } from './action-body';
import { TestProviderDto } from './provider-test.dto';
import { ProviderTestService } from './provider-test.service';

/**
 * Connection tests with troubleshooting: per route, whether it works, its latency, the models it saw and a
 * diagnosis; plus the suggestion to route through the gateway when only that works. Run by the health-monitor.
 */
@Controller('api/v1/ai/admin/providers')
@Roles('admin')
export class ProviderTestController {
  constructor(private readonly tests: ProviderTestService) {}

  /** Settings not saved yet (a console form's "Test" button). */
  @Post('test')
  @HttpCode(200)
  testUnsaved(@Body() dto: TestProviderDto): Promise<ConnectionTestResult> {
    return this.tests.testUnsaved(dto);
  }

  @Post(':id/test')
  @HttpCode(200)
  @NoBody()
  testSaved(@Param('id') id: string): Promise<ConnectionTestResult> {
    return this.tests.testSaved(id);
  }
}
