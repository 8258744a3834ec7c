import { Injectable } from '@nestjs/common';
import { GenerationService } from '../generation/generation.service';
import type { Client } from '../http/client';
import type { GenerateDto } from './generate.dto';
import { jobStateOf, type JobState } from './job-status';
import {
  generateResponse,
  nativeRequest,
  nativeShapeOf,
  withNativeParam,
  type GenerateResponse,
} from './native-mapping';

export interface JobAccepted {
  jobId: string;
  /** `queued` for a new job; an Idempotency-Key replay says the state of the job it found. */
  status: JobState;
}

/** The native API: `POST /api/v1/ai/generate` (wait for the answer) and `POST /api/v1/ai/jobs` (async). */
@Injectable()
export class NativeGenerationService {
  constructor(private readonly generation: GenerationService) {}

  async generate(dto: GenerateDto, client: Client): Promise<GenerateResponse> {
    const request = nativeRequest(dto, this.generation.frame(client, 'sync'));
    const shape = nativeShapeOf(dto);
    const result = await this.generation
      .answer({ request, endpoint: 'generate', useCache: dto.useCache, native: shape }, client)
      .catch((err: unknown) => {
        throw withNativeParam(err, shape);
      });
    // The body's requestId is the x-request-id this answer carries: the client's own id when it sent one.
    return generateResponse(result, client.clientRequestId ?? request.requestId);
  }

  async submit(dto: GenerateDto, client: Client): Promise<JobAccepted> {
    const request = nativeRequest(dto, this.generation.frame(client, 'async'));
    const shape = nativeShapeOf(dto);
    const { jobId, replayed } = await this.generation
      .submit({ request, endpoint: 'jobs', useCache: dto.useCache, native: shape }, client)
      .catch((err: unknown) => {
        throw withNativeParam(err, shape);
      });
    client.setHeaders({ location: `/api/v1/ai/jobs/${jobId}` });
    return { jobId, status: replayed === null ? 'queued' : jobStateOf(replayed) };
  }
}
