import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationService } from '../generation/generation.service';
import { fastifyClient } from '../http/client';
import type { EmbeddingsDto } from './embeddings.dto';
import { embeddingListBody, embeddingsRequest } from './embeddings-mapping';

/**
 * `POST /v1/embeddings`: the same queue, worker, policies, fallback and breaker as chat, with candidates limited to
 * deployments that have the `embeddings` capability.
 */
@Injectable()
export class EmbeddingsService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: EmbeddingsDto, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const client = fastifyClient(req, reply);
    const request = embeddingsRequest(dto, this.generation.frame(client, 'sync'));
    const result = await this.generation.answer({ request, endpoint: 'embeddings' }, client);
    void reply.send(embeddingListBody(result, dto.encoding_format ?? 'float'));
  }
}
