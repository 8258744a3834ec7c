import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ErrorCode } from '@aigw/core';
import { ENV, MAX_PARAM_LENGTH, pathSegmentTooLong } from '@aigw/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdmissionRefused, AdmissionService } from '../admission/admission.service';
import { resetDuration } from '../admission/rate-limit-headers';
import { ModelAccess } from '../auth/model-access';
import { PublicWhen } from '../auth/public-when';
import { Caller } from '../auth/roles';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { modelNotFound } from '../generation/servable';
import { AddressRateLimiter } from './address-rate-limiter';
import { ModelListsService } from './model-lists.service';
import type { OpenAiModel, OpenAiModelList } from './model-views';

/** How long a client may reuse the native listing without asking again (then `If-None-Match` makes it cheap). */
const MAX_AGE_S = 30;

/** RFC 9110 `If-None-Match`: `*`, or a list of strong or weak validators compared weakly. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) {
    return false;
  }
  return header.split(',').some((raw) => {
    const tag = raw.trim();
    return tag === '*' || (tag.startsWith('W/') ? tag.slice(2) : tag) === etag;
  });
}

@Controller()
export class ModelsController {
  private readonly anonymous: AddressRateLimiter;

  constructor(
    private readonly lists: ModelListsService,
    private readonly admission: AdmissionService,
    private readonly access: ModelAccess,
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {
    this.anonymous = new AddressRateLimiter(env.MODELS_PUBLIC_RPM);
  }

  /** The models a key may use: a key restricted by `allowedModels` is shown only those, as OpenAI and LiteLLM do. */
  @Get('v1/models')
  openAiModels(@Caller() auth: AuthContext): OpenAiModelList {
    return this.lists.openAiModels(auth.policy.allowedModels);
  }

  /**
   * One model of that list, as OpenAI's `GET /v1/models/{model}` answers it (`client.models.retrieve`). A deployment id
   * holds a slash: the SDKs send it encoded (`sim%2Fsim-gpt`), curl users plainly, so the id is the rest of the path.
   */
  @Get('v1/models/*')
  @ApiParam({
    name: 'id',
    type: String,
    description: 'A deployment id (`provider/model`, the slash plain or encoded) or a model name',
    example: 'sim/sim-gpt',
  })
  openAiModel(@Req() req: FastifyRequest<{ Params: { '*': string } }>, @Caller() auth: AuthContext): OpenAiModel {
    const id = req.params['*'];
    // The router measures `:param`s, not the rest of the path: nothing has an id this long (README, errors).
    if (id.length > MAX_PARAM_LENGTH) {
      throw pathSegmentTooLong();
    }
    const model = this.lists.openAiModel(id);
    if (model === undefined) {
      throw modelNotFound(id);
    }
    // Outside the key's allowedModels: 403 model_not_allowed, as a generation asking for it gets.
    this.access.restrict({ model: model.id, allowFallback: false }, auth);
    return model;
  }

  /**
   * Every deployment with prices, traits, 24 h latency and success rate, health, availability and the
   * `recommended` flag. Any valid key, or nobody with MODELS_PUBLIC; rate limited either way; `ETag` and
   * `Cache-Control` so that polling clients mostly get a 304.
   */
  @Get('api/v1/ai/models')
  @PublicWhen((env) => env.MODELS_PUBLIC)
  async listing(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    void reply.headers(await this.admit(req, reply));
    const { body, etag } = await this.lists.listing();
    void reply
      .header('etag', etag)
      .header('cache-control', `${req.auth === null ? 'public' : 'private'}, max-age=${MAX_AGE_S}`);
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      void reply.status(304).send();
      return;
    }
    void reply.header('content-type', 'application/json; charset=utf-8').send(body);
  }

  /** The rate-limit headers of an admitted request; a refused one throws its 429 (with the headers set). */
  private async admit(req: FastifyRequest, reply: FastifyReply): Promise<Record<string, string>> {
    if (req.auth === null) {
      const verdict = this.anonymous.hit(req.ip);
      const headers = {
        'x-ratelimit-limit-requests': String(this.env.MODELS_PUBLIC_RPM),
        'x-ratelimit-remaining-requests': String(verdict.remaining),
        'x-ratelimit-reset-requests': resetDuration(verdict.resetMs),
      };
      if (!verdict.allowed) {
        void reply.headers(headers);
        throw new AdmissionRefused(
          ErrorCode.RateLimited,
          `Rate limit reached: ${this.env.MODELS_PUBLIC_RPM} requests per minute per address to the models listing.`,
          verdict.resetMs,
          headers,
        );
      }
      return headers;
    }
    try {
      return await this.admission.admitRead(req.auth);
    } catch (err) {
      if (err instanceof AdmissionRefused) {
        void reply.headers(err.headers);
      }
      throw err;
    }
  }
}
