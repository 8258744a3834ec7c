import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ErrorCode } from '@aigw/core';
import { ENV, isAnthropicModelsRequest, MAX_PARAM_LENGTH, pathSegmentTooLong } from '@aigw/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdmissionRefused, AdmissionService } from '../admission/admission.service';
import { resetDuration } from '../admission/rate-limit-headers';
import { PublicWhen } from '../auth/public-when';
import { Caller } from '../auth/roles';
import type { GatewayEnv } from '../config/gateway-env';
import { receivedAtOf, type AuthContext } from '../http/request-context';
import { modelNotFound } from '../generation/servable';
import { invalidParam } from '../validation/validation-errors';
import { AddressRateLimiter } from './address-rate-limiter';
import { ModelListsService } from './model-lists.service';
import {
  anthropicModel,
  anthropicModelPage,
  type AnthropicCursor,
  type AnthropicModel,
  type AnthropicModelPage,
  type OpenAiModel,
  type OpenAiModelList,
} from './model-views';

/** Anthropic's Models API: `limit` defaults to 20 and takes 1 to 1000. */
const ANTHROPIC_DEFAULT_LIMIT = 20;
const ANTHROPIC_MAX_LIMIT = 1000;

type Query = Record<string, string | string[] | undefined>;

/** One query parameter, sent once at most (twice is a 400 naming it, never one of the two read). */
function queryParam(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) {
    throw invalidParam(name, 'must be given once');
  }
  return value;
}

/** Anthropic's `limit`, `after_id` and `before_id`, checked: a 400 names the one at fault. */
function anthropicPaging(query: Query): { limit: number; cursor: AnthropicCursor } {
  const rawLimit = queryParam(query, 'limit');
  let limit = ANTHROPIC_DEFAULT_LIMIT;
  if (rawLimit !== undefined) {
    limit = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= ANTHROPIC_MAX_LIMIT)) {
      throw invalidParam('limit', `must be an integer from 1 to ${ANTHROPIC_MAX_LIMIT}`);
    }
  }
  const afterId = queryParam(query, 'after_id');
  const beforeId = queryParam(query, 'before_id');
  if (afterId !== undefined && beforeId !== undefined) {
    throw invalidParam('before_id', 'cannot be given with after_id');
  }
  const cursor = afterId !== undefined ? { afterId } : beforeId !== undefined ? { beforeId } : null;
  return { limit, cursor };
}

/** How long a client may reuse the native listing without asking again (then `If-None-Match` makes it cheap). */
const MAX_AGE_S = 30;

/** The request headers that carry a key: the native listing's answers vary by them. */
const VARY_KEY = 'Authorization, x-api-key';

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
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {
    this.anonymous = new AddressRateLimiter(env.MODELS_PUBLIC_RPM);
  }

  /** The models a key may use: a key restricted by `allowedModels` is shown only those, as OpenAI and LiteLLM do. */
  @Get('v1/models')
  openAiModels(@Req() req: FastifyRequest, @Caller() auth: AuthContext): OpenAiModelList | AnthropicModelPage {
    const list = this.lists.openAiModels(auth.policy.allowedModels);
    if (!isAnthropicModelsRequest(req)) {
      return list;
    }
    // Anthropic's SDKs (`client.models.list()`) read Anthropic's page and follow its cursors.
    const { limit, cursor } = anthropicPaging(req.query as Query);
    const page = anthropicModelPage(list.data, limit, cursor);
    if (page === undefined) {
      const param = cursor !== null && 'beforeId' in cursor ? 'before_id' : 'after_id';
      throw invalidParam(param, 'is not the id of a listed model');
    }
    return page;
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
  openAiModel(
    @Req() req: FastifyRequest<{ Params: { '*': string } }>,
    @Caller() auth: AuthContext,
  ): OpenAiModel | AnthropicModel {
    const id = req.params['*'];
    // The router measures `:param`s, not the rest of the path: nothing has an id this long (README, errors).
    if (id.length > MAX_PARAM_LENGTH) {
      throw pathSegmentTooLong();
    }
    // Outside the key's allowedModels: the 404 model_not_found of an unknown id, never a 403 that would tell a key
    // what `GET /v1/models` hides from it (that a model of that name exists). A generation naming such a model is
    // still refused 403 model_not_allowed (GenerationService.check), whether the model exists or not: see ModelAccess.
    const model = this.lists.openAiModel(id, auth.policy.allowedModels);
    if (model === undefined) {
      throw modelNotFound(id);
    }
    return isAnthropicModelsRequest(req) ? anthropicModel(model) : model;
  }

  /**
   * Every deployment (for a key restricted by `allowedModels`, every one it may use; for nobody, the enabled ones)
   * with prices, traits, 24 h latency and success rate, health, availability and the `recommended` flag. Any valid key, or nobody with MODELS_PUBLIC; rate limited either way; `ETag` and
   * `Cache-Control` so that polling clients mostly get a 304.
   */
  @Get('api/v1/ai/models')
  @PublicWhen((env) => env.MODELS_PUBLIC)
  async listing(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    void reply.headers(await this.admit(req, reply));
    // A key restricted by allowedModels is shown the deployments it may use only, as `GET /v1/models` shows it;
    // nobody (MODELS_PUBLIC) the enabled ones only.
    const { body, etag } = await this.lists.listing(req.auth === null ? 'anonymous' : req.auth.policy.allowedModels);
    void reply
      .header('etag', etag)
      .header('cache-control', `${req.auth === null ? 'public' : 'private'}, max-age=${MAX_AGE_S}`);
    // Each caller's list is its own (a restricted key's, nobody's): a cache, the browser's own included (the console
    // signing in with another key), must not hand one to another, so the answer varies by the headers that carry a
    // key (after CORS's `Origin`). RFC 9111 lets a shared cache serve a `public` answer to a request with a key.
    const vary = reply.getHeader('vary');
    void reply.header('vary', typeof vary === 'string' ? `${vary}, ${VARY_KEY}` : VARY_KEY);
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
      return await this.admission.admitRead(req.auth, receivedAtOf(req));
    } catch (err) {
      if (err instanceof AdmissionRefused) {
        void reply.headers(err.headers);
      }
      throw err;
    }
  }
}
