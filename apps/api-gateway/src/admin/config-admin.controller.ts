import { Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyReply } from 'fastify';
import { Caller, Roles } from '../auth/roles';
import { RawBody } from '../http/raw-body';
import type { AuthContext } from '../http/request-context';
import { ConfigTransferService, type ExportFormat, type ImportResult } from './config-transfer.service';

const CONTENT_TYPES: Record<ExportFormat, string> = {
  yaml: 'application/yaml; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

/** The whole provider configuration as a file (the PROVIDERS_FILE format) and back. */
@Controller('api/v1/ai/admin/config')
@Roles('admin')
export class ConfigAdminController {
  constructor(private readonly transfer: ConfigTransferService) {}

  /** `?format=yaml` (default) or `json`; secrets only as the `${VAR}` references they were configured with. */
  @Get('export')
  async export(
    @Query('format') format: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const chosen = format ?? 'yaml';
    if (chosen !== 'yaml' && chosen !== 'json') {
      throw new GatewayError(ErrorCode.InvalidRequest, "'format' must be yaml or json.", { param: 'format' });
    }
    const body = await this.transfer.export(chosen);
    void reply
      .header('content-type', CONTENT_TYPES[chosen])
      .header('content-disposition', `attachment; filename="aigw-config.${chosen}"`)
      .header('cache-control', 'no-store');
    return body;
  }

  /**
   * JSON (`application/json`) or YAML (`application/yaml`, `text/yaml`). Validated as a whole (every problem named
   * by its path), applied in one transaction; `?dryRun=true` answers the changes without applying them.
   */
  @Post('import')
  @HttpCode(200)
  import(
    @RawBody() body: unknown,
    @Query('dryRun') dryRun: string | undefined,
    @Caller() auth: AuthContext,
  ): Promise<ImportResult> {
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') {
      throw new GatewayError(ErrorCode.InvalidRequest, "'dryRun' must be true or false.", { param: 'dryRun' });
    }
    return this.transfer.import(body, dryRun === 'true', auth);
  }
}
