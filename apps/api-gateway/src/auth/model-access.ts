import { Injectable } from '@nestjs/common';
import { ErrorCode, filterCandidates, selectionError, type GenerationRequest } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import type { AuthContext } from '../http/request-context';

/**
 * A key's allow-list at the gateway: the request carries it to the worker (whose candidate filter keeps only
 * allowed deployments, so an alias ranges over what the key may use), and a model the key may not use at all
 * is refused here, 403 model_not_allowed, before anything is counted or enqueued. In memory only.
 */
@Injectable()
export class ModelAccess {
  constructor(private readonly catalog: CatalogService) {}

  restrict(
    request: Pick<GenerationRequest, 'model' | 'allowFallback' | 'embeddings' | 'allowedModels'>,
    auth: AuthContext,
  ): void {
    const allowed = auth.policy.allowedModels;
    if (allowed === null) {
      return;
    }
    request.allowedModels = [...allowed];
    const { failure } = filterCandidates(
      this.catalog.deployments(),
      {
        model: request.model,
        stream: false,
        estimatedTokens: 0,
        allowFallback: request.allowFallback,
        embeddings: request.embeddings !== undefined,
        allowedModels: allowed,
      },
      () => false,
    );
    // Other failures (unknown model, missing capability, ...) are for the usual checks to name.
    if (failure?.code === ErrorCode.ModelNotAllowed) {
      throw selectionError(failure);
    }
  }
}
