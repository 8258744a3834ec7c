import { Injectable } from '@nestjs/common';
import { CatalogService } from '@aigw/platform';
import { deploymentList, openAiModelList, type DeploymentList, type OpenAiModelList } from './model-views';

/** Model lists, rebuilt only when the catalog object changes (CatalogService replaces it on every reload). */
@Injectable()
export class ModelListsService {
  private readonly created = Math.floor(Date.now() / 1000);
  private openAi: { source: object; view: OpenAiModelList } | null = null;
  private native: { source: object; view: DeploymentList } | null = null;

  constructor(private readonly catalog: CatalogService) {}

  openAiModels(): OpenAiModelList {
    const source = this.catalog.current;
    if (this.openAi?.source !== source) {
      this.openAi = { source, view: openAiModelList(source, this.created) };
    }
    return this.openAi.view;
  }

  deployments(): DeploymentList {
    const source = this.catalog.current;
    if (this.native?.source !== source) {
      this.native = { source, view: deploymentList(source) };
    }
    return this.native.view;
  }
}
