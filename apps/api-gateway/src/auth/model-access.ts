import { Injectable } from '@nestjs/common';
import {
  ErrorCode,
  filterCandidates,
  GatewayError,
  isModelAlias,
  mayUseDeployment,
  type GenerationRequest,
} from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { modelNotFound, shownModel } from '../generation/servable';
import type { AuthContext } from '../http/request-context';

/**
 * Does an allow-list entry name this model ref, whatever the catalog holds: the ref itself, a model name it pins
 * at some provider (`gpt-4o` names `openai/gpt-4o`) or the provider of a `provider/*` entry. Lexical on purpose:
 * it decides between 404 and 403 for a ref no enabled deployment the key may use serves, so it must not depend on
 * what exists.
 */
function namedBy(allowed: readonly string[], model: string): boolean {
  return allowed.some(
    (entry) =>
      entry === model || model.endsWith(`/${entry}`) || (entry.endsWith('/*') && model.startsWith(entry.slice(0, -1))),
  );
}

/**
 * 403 model_not_allowed, one envelope for every model a restricted key may not use, served or not: the same message
 * whatever the catalog holds (it names the model asked for, never one the key cannot see), cut as modelNotFound cuts.
 */
export function modelNotAllowed(model: string): GatewayError {
  return new GatewayError(ErrorCode.ModelNotAllowed, `This API key may not use the model '${shownModel(model)}'.`, {
    param: 'model',
  });
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
    // Other failures (missing capability, ...) are of deployments the key may use: for the usual checks to name.
    if (failure?.code !== ErrorCode.ModelNotAllowed && failure?.code !== ErrorCode.ModelNotFound) {
      return;
    }
    // No enabled deployment the key may use serves the model. The answer must then depend on the key's list and the
    // request alone, never on what else the catalog holds, or its 403/404 split would tell a restricted key which
    // models exist, which `GET /v1/models` and `GET /v1/models/{id}` (404 for what it may not see) keep from it:
    // - a model its list does not name is 403 whether or not the catalog serves it (403 rather than 404 because the
    //   request is refused for the key, as OpenAI refuses a generation on a model the project may not use), as is an
    //   alias with nothing to range over, whether or not deployments of its kind exist outside the list;
    // - a model its list names is the 404 of a model nothing serves, also when a deployment outside the list answers
    //   to that name (`org/gpt-4o`, a model name with a slash at another provider, for a key allowed `gpt-4o`): a 403
    //   there, and the 404 for `org2/gpt-4o`, would tell the key that one exists. Servable would not say 404 for it
    //   (it reads the whole catalog), so it is said here.
    if (isModelAlias(request.model) || !namedBy(allowed, request.model)) {
      throw modelNotAllowed(request.model);
    }
    throw modelNotFound(request.model);
  }

  /**
   * A deployment named by its provider and model (`PUT /api/v1/ai/preferences`): a key restricted by `allowedModels`
   * may name only one its list allows, 403 model_not_allowed otherwise, decided on the names alone, before the
   * catalog is asked whether they exist. `provider/model` is a deployment id here (no ref to resolve), so the list
   * is matched exactly, as `mayUseDeployment` matches a deployment that exists.
   */
  restrictDeployment(provider: string, model: string, auth: AuthContext): void {
    const allowed = auth.policy.allowedModels;
    const id = `${provider}/${model}`;
    if (allowed !== null && !mayUseDeployment(allowed, { id, provider: { id: provider }, model: { name: model } })) {
      throw modelNotAllowed(id);
    }
  }

  /**
   * Whether the key may be told that this provider exists: unrestricted, or one of the provider's deployments is on
   * its list (the listings show it those). A provider the key may use nothing of is as unknown to it as one the
   * catalog does not hold: for a key allowed `gpt-4o`, `acme/gpt-4o` is refused as "no provider 'acme'" whether acme
   * serves other models or does not exist.
   */
  showsProvider(provider: string, auth: AuthContext): boolean {
    const allowed = auth.policy.allowedModels;
    return (
      allowed === null ||
      this.catalog.deployments().some((d) => d.provider.id === provider && mayUseDeployment(allowed, d))
    );
  }
}
