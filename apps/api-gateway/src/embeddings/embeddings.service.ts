import { Injectable } from '@nestjs/common';
import { GenerationService } from '../generation/generation.service';
import type { Client } from '../http/client';
import type { EmbeddingsDto } from './embeddings.dto';
import { embeddingListBody, embeddingsRequest, type EmbeddingList } from './embeddings-mapping';

/**
 * `POST /v1/embeddings`: the same queue, worker, policies, fallback and breaker as chat, with candidates limited to
 * deployments that have the `embeddings` capability.
 */
@Injectable()
export class EmbeddingsService {
  constructor(private readonly generation: GenerationService) {}

  async create(dto: EmbeddingsDto, client: Client): Promise<EmbeddingList> {
    const request = embeddingsRequest(dto, this.generation.frame(client, 'sync'), client.body);
    const result = await this.generation.answer({ request, endpoint: 'embeddings' }, client);
    return embeddingListBody(result, dto.encoding_format ?? 'float');
  }
}
