import { Injectable } from '@nestjs/common';
import {
  ErrorCode,
  filterCandidates,
  GatewayError,
  isModelAlias,
  requestNeedsOf,
  selectionError,
  type GenerationRequest,
} from '@aigw/core';
import { CatalogService, MAX_PARAM_LENGTH } from '@aigw/platform';

/**
 * A requested model as an error message echoes it: a name longer than any id is cut where no real one could reach,
 * since the body's `model` has no length limit of its own, and the answer echoed all of it, up to the body limit.
 */
export function shownModel(model: string): string {
  return model.length > MAX_PARAM_LENGTH ? `${model.slice(0, MAX_PARAM_LENGTH)}…` : model;
}

/** 404 model_not_found for a model no enabled deployment serves (a request's, or a model listing's id). */
export function modelNotFound(model: string): GatewayError {
  return new GatewayError(
    ErrorCode.ModelNotFound,
    `The model '${shownModel(model)}' does not exist or is not enabled.`,
    {
      param: 'model',
    },
  );
}

/**
 * The pipeline's validation step, before anything is counted or enqueued: 404 model_not_found unless an alias or
 * a deployment serves the model, and 400 unsupported_capability / unsupported_parameter when none of its
 * deployments can honour what the request asks (tools, images, JSON mode, provider-specific fields). In memory
 * only; the worker checks again with circuits and context windows.
 */
@Injectable()
export class Servable {
  constructor(private readonly catalog: CatalogService) {}

  assert(
    request: Pick<
      GenerationRequest,
      'model' | 'messages' | 'options' | 'stream' | 'allowFallback' | 'embeddings' | 'allowedModels'
    >,
  ): void {
    const { model } = request;
    if (!isModelAlias(model) && this.catalog.servingDeployments(model).length === 0) {
      throw modelNotFound(model);
    }
    const embeddings = request.embeddings !== undefined;
    const needs = requestNeedsOf(request);
    if (!embeddings && needs.capabilities.length === 0 && needs.params.length === 0) {
      return;
    }
    // Over the deployments the key may use (its allow-list, set by ModelAccess.restrict), as the worker routes: a
    // capability only a deployment outside the list has would pass here and fail there, and the kinds the message of
    // an unsupported parameter names would include those of deployments the key cannot see (that they exist).
    const need = {
      model,
      stream: request.stream,
      estimatedTokens: 0,
      allowFallback: request.allowFallback,
      needs,
      embeddings,
      allowedModels: request.allowedModels,
    };
    const { failure } = filterCandidates(this.catalog.deployments(), need, () => false);
    // A chat model asked for embeddings is an unsupported capability too: it would fail the same way in the worker.
    if (failure?.code === ErrorCode.UnsupportedCapability || failure?.code === ErrorCode.UnsupportedParameter) {
      throw selectionError(failure);
    }
  }
}
