import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService, type Submission } from '../generation/generation.service';
import { ModelAccess } from '../auth/model-access';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf } from '../generation/idempotency';
import type { AuthContext } from '../http/request-context';
import { resultHeaders } from '../http/result-headers';
import type { GenerateDto } from './generate.dto';
import { generateResponse, nativeRequest, type GenerateResponse } from './native-mapping';

export interface JobAccepted {
  jobId: string;
  status: 'queued';
}

/** The native API: `POST /api/v1/ai/generate` (wait for the answer) and `POST /api/v1/ai/jobs` (async). */
@Injectable()
export class NativeGenerationService {
  constructor(
    private readonly generation: GenerationService,
    private readonly access: ModelAccess,
  ) {}

  async generate(
    dto: GenerateDto,
    auth: AuthContext,
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<GenerateResponse> {
    const request = nativeRequest(dto, this.generation.frame(req, auth, 'sync'));
    this.access.restrict(request, auth);
    this.generation.assertServable(request);
    const result = await this.generation.answer(submission('generate', request, req), req, reply);
    void reply.headers(resultHeaders(result));
    return generateResponse(result);
  }

  async submit(dto: GenerateDto, auth: AuthContext, req: FastifyRequest, reply: FastifyReply): Promise<JobAccepted> {
    const request = nativeRequest(dto, this.generation.frame(req, auth, 'async'));
    this.access.restrict(request, auth);
    this.generation.assertServable(request);
    const jobId = await this.generation.submit(submission('jobs', request, req), req, reply);
    void reply.header('location', `/api/v1/ai/jobs/${jobId}`);
    return { jobId, status: 'queued' };
  }
}

function submission(endpoint: string, request: Submission['request'], req: FastifyRequest): Submission {
  return { request, endpoint, body: req.body, idempotencyKey: idempotencyKeyOf(req.headers[IDEMPOTENCY_HEADER]) };
}
