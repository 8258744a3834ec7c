import { Injectable } from '@nestjs/common';
import { ErrorCode, filterCandidates, isModelAlias, selectionError, type GenerationRequest } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import type { AuthContext } from '../http/request-context';

/**
 * Does an allow-list entry name this model ref, whatever the catalog holds: the ref itself, a model name it pins
 * at some provider (`gpt-4o` names `openai/gpt-4o`) or the provider of a `provider/*` entry. Lexical on purpose:
 * it decides between 404 and 403 for a ref no enabled deployment serves, so it must not depend on what exists.
 */
function namedBy(allowed: readonly string[], model: string): boolean {
  return allowed.some(
    (entry) =>
      entry === model || model.endsWith(`/${entry}`) || (entry.endsWith('/*') && model.startsWith(entry.slice(0, -1))),
  );
}

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
    // Other failures (missing capability, ...) are for the usual checks to name.
    if (failure?.code === ErrorCode.ModelNotAllowed) {
      throw selectionError(failure);
    }
    // A model its list does not name is refused 403 whether or not the catalog serves it: were an unknown one a 404
    // (Servable's), the difference would tell a restricted key which models exist, which `GET /v1/models` and
    // `GET /v1/models/{id}` (404 for what it may not see) keep from it. 403 rather than 404 because the request is
    // refused for the key, as OpenAI refuses a generation on a model the project may not use (403); a model the list
    // names and no deployment serves stays Servable's 404, which tells the key nothing its list does not say.
    if (failure?.code === ErrorCode.ModelNotFound && !isModelAlias(request.model) && !namedBy(allowed, request.model)) {
      throw selectionError({
        code: ErrorCode.ModelNotAllowed,
        message: `This API key may not use the model '${request.model}'.`,
      });
    }
  }
}
