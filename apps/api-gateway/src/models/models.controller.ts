import { Controller, Get } from '@nestjs/common';
import { ModelListsService } from './model-lists.service';
import type { DeploymentList, OpenAiModelList } from './model-views';

@Controller()
export class ModelsController {
  constructor(private readonly lists: ModelListsService) {}

  @Get('v1/models')
  openAiModels(): OpenAiModelList {
    return this.lists.openAiModels();
  }

  @Get('api/v1/ai/models')
  deployments(): DeploymentList {
    return this.lists.deployments();
  }
}
