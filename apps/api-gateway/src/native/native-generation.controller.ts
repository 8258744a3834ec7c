import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fastifyClient } from '../http/client';
import { Caller } from '../auth/roles';
import { receivedAtOf, type AuthContext } from '../http/request-context';
import { GenerateDto } from './generate.dto';
import type { JobStatusView } from './job-status';
import { JobsService } from './jobs.service';
import type { GenerateResponse } from './native-mapping';
import { NativeGenerationService, type JobAccepted } from './native-generation.service';
import { NoBody } from '../admin/action-body';

@Controller('api/v1/ai')
export class NativeGenerationController {
  constructor(
    private readonly native: NativeGenerationService,
    private readonly jobs: JobsService,
  ) {}

  @Post('generate')
  @HttpCode(200)
  generate(
    @Body() dto: GenerateDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<GenerateResponse> {
    return this.native.generate(dto, fastifyClient(req, reply));
  }

  @Post('jobs')
  @HttpCode(202)
  submit(
    @Body() dto: GenerateDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<JobAccepted> {
    return this.native.submit(dto, fastifyClient(req, reply));
  }

  @Get('jobs/:id')
  status(@Param('id') id: string, @Caller() auth: AuthContext, @Req() req: FastifyRequest): Promise<JobStatusView> {
    return this.jobs.status(id, auth, receivedAtOf(req));
  }

  /** A sub-resource action, as OpenAI's `POST /v1/batches/{id}/cancel`: the job stays readable, as `cancelled`. */
  @Post('jobs/:id/cancel')
  @HttpCode(200)
  @NoBody()
  cancel(@Param('id') id: string, @Caller() auth: AuthContext, @Req() req: FastifyRequest): Promise<JobStatusView> {
    return this.jobs.cancel(id, auth, receivedAtOf(req));
  }
}
