import { Injectable } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  isModelAlias,
  type Capability,
  type Deployment,
  type GenerationRequest,
} from '@aigw/core';
import { CatalogService } from '@aigw/platform';

/** The capabilities a request needs from a deployment. */
export function neededCapabilities(request: GenerationRequest): Capability[] {
  return request.stream ? ['chat', 'streaming'] : ['chat'];
}

/**
 * The deployments a request may use, in catalog order: for an alias every enabled deployment, else the ones
 * serving the model (`servingDeployments` already drops disabled ones); only those with the needed capabilities.
 */
export function eligibleDeployments(
  request: GenerationRequest,
  all: readonly Deployment[],
  serving: (model: string) => Deployment[],
): Deployment[] {
  const pool = isModelAlias(request.model)
    ? all.filter((d) => d.provider.enabled && d.model.enabled)
    : serving(request.model);
  const needs = neededCapabilities(request);
  return pool.filter((d) => needs.every((c) => d.model.capabilities.includes(c)));
}

/** Picks the deployment for a request. For now the first eligible one; a routing engine replaces this. */
@Injectable()
export class DeploymentSelector {
  constructor(private readonly catalog: CatalogService) {}

  select(request: GenerationRequest): Deployment {
    const [first] = eligibleDeployments(request, this.catalog.deployments(), (m) => this.catalog.servingDeployments(m));
    if (!first) {
      const what = request.stream ? 'does not exist or cannot stream' : 'does not exist or is not enabled';
      throw new GatewayError(ErrorCode.ModelNotFound, `The model '${request.model}' ${what}.`, { param: 'model' });
    }
    return first;
  }
}
