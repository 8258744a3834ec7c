import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf } from '../generation/idempotency';
import type { AuthContext } from '../http/request-context';
import { resultHeaders } from '../http/result-headers';
import type { EmbeddingsDto } from './embeddings.dto';
import { embeddingListBody, embeddingsRequest } from './embeddings-mapping';

/**
 * `POST /v1/embeddings`: the same queue, worker, policies, fallback and breaker as chat, with candidates limited to
 * deployments that have the `embeddings` capability.
 */
@Injectable()
export class EmbeddingsService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: EmbeddingsDto, auth: AuthContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const request = embeddingsRequest(dto, this.generation.frame(req, auth, 'sync'));
    this.generation.assertServable(request);
    const submission = {
      request,
      endpoint: 'embeddings',
      body: req.body,
      idempotencyKey: idempotencyKeyOf(req.headers[IDEMPOTENCY_HEADER]),
    };
    const result = await this.generation.answer(submission, req, reply);
    void reply.headers(resultHeaders(result)).send(embeddingListBody(result, dto.encoding_format ?? 'float'));
  }
}
