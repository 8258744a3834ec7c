import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { fastifyClient } from '../http/client';
import type { GenerateDto } from './generate.dto';
import { generateResponse, nativeRequest, type GenerateResponse } from './native-mapping';

export interface JobAccepted {
  jobId: string;
  status: 'queued';
}

/** The native API: `POST /api/v1/ai/generate` (wait for the answer) and `POST /api/v1/ai/jobs` (async). */
@Injectable()
export class NativeGenerationService {
  constructor(private readonly generation: GenerationService) {}

  async generate(dto: GenerateDto, req: FastifyRequest, reply: FastifyReply): Promise<GenerateResponse> {
    const client = fastifyClient(req, reply);
    const request = nativeRequest(dto, this.generation.frame(client, 'sync'));
    return generateResponse(
      await this.generation.answer({ request, endpoint: 'generate', useCache: dto.useCache }, client),
    );
  }

  async submit(dto: GenerateDto, req: FastifyRequest, reply: FastifyReply): Promise<JobAccepted> {
    const client = fastifyClient(req, reply);
    const request = nativeRequest(dto, this.generation.frame(client, 'async'));
    const jobId = await this.generation.submit({ request, endpoint: 'jobs', useCache: dto.useCache }, client);
    void reply.header('location', `/api/v1/ai/jobs/${jobId}`);
    return { jobId, status: 'queued' };
  }
}
