import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, loadTiersFile, resolveCallerPolicy, type GenerationRequest } from '@aigw/core';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { RedisErrors, RedisKeys, ShutdownState, type CatalogService } from '@aigw/platform';
import { deleteRedisKeysOf, TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { AdmissionRefused, AdmissionService } from '../../apps/api-gateway/src/admission/admission.service';
import type { QuotaRebuilder } from '../../apps/api-gateway/src/admission/quota-rebuilder';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import type { AuthContext } from '../../apps/api-gateway/src/http/request-context';

/**
 * A tokens-per-minute limit of 0 can only come from TIERS_FILE (the admin API and RATE_LIMIT_TPM take 1 or more): it
 * allows no tokens at all, so no request fits however small. The refusal said the request was too large and to lower
 * max_tokens, which never helps.
 */
describe('a tokens-per-minute limit of 0 from a tiers file', () => {
  const ns = uniqueId('zero_tpm');
  const dir = mkdtempSync(join(tmpdir(), 'aigw-tiers-'));
  let redis: Redis;
  let service: AdmissionService;

  const deployment = { provider: { enabled: true }, model: { enabled: true, promptPer1k: 1, completionPer1k: 2 } };
  const catalog = {
    deployments: () => [deployment],
    servingDeployments: () => [deployment],
  } as unknown as CatalogService;

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL);
    await new QuotaCountersStore(redis, new GovernanceKeys(ns)).markRebuilt(Date.now());
    const env = Object.assign(new GatewayEnv(), { REQUEST_TIMEOUT_MS: 30_000 });
    service = new AdmissionService(
      env,
      redis,
      new RedisKeys(ns),
      catalog,
      {} as QuotaRebuilder,
      new RedisErrors(),
      new ShutdownState(),
    );
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, ns);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  function callerOfTier(tier: string, file: string): AuthContext {
    const path = join(dir, `${tier}.yaml`);
    writeFileSync(path, file);
    const policy = resolveCallerPolicy(
      { expiresAt: null, allowedModels: null, rpm: null, tpm: null },
      {
        tier,
        dailyRequestLimit: null,
        monthlyRequestLimit: null,
        dailySpendLimitUsd: null,
        monthlySpendLimitUsd: null,
      },
      loadTiersFile(path),
      { rpm: null, tpm: null },
    );
    const userId = uniqueId('u');
    return { userId, apiKeyId: `${userId}-key`, role: 'user', policy };
  }

  function request(caller: AuthContext, maxTokens?: number): GenerationRequest {
    return {
      requestId: uniqueId('req'),
      model: 'sim/sim-gpt',
      messages: [{ role: 'user', content: 'hello' }],
      options: maxTokens === undefined ? {} : { maxTokens },
      stream: false,
      userId: caller.userId,
      apiKeyId: caller.apiKeyId,
      deadlineAt: Date.now() + 30_000,
      receivedAt: Date.now(),
    };
  }

  async function refusal(caller: AuthContext, maxTokens?: number): Promise<AdmissionRefused> {
    const err: unknown = await service.admit(caller, request(caller, maxTokens)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AdmissionRefused);
    return err as AdmissionRefused;
  }

  it('says no tokens are allowed, not that the request is too large', async () => {
    const caller = callerOfTier('closed', 'tiers:\n  closed: { tpm: 0 }\n');
    expect(caller.policy.limits.userTpm).toBe(0);
    for (const maxTokens of [1, undefined]) {
      const err = await refusal(caller, maxTokens);
      expect(err.code).toBe(ErrorCode.RateLimited);
      expect(err.retry).toBe(false);
      expect(err.message).toBe(
        'The tokens per minute of this key is 0: no tokens are allowed, so no request is. Waiting will not help; ' +
          'an admin can raise it.',
      );
    }
  });

  it('still tells a request larger than a limit above 0 to ask for less', async () => {
    const caller = callerOfTier('tiny', 'tiers:\n  tiny: { tpm: 5 }\n');
    const err = await refusal(caller, 100);
    expect(err.message).toMatch(/^Request too large for the tokens per minute of this key \(5\): it asks \d+ tokens/);
  });
});
