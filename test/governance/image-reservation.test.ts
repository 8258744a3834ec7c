import { NO_LIMITS, type Deployment, type GenerationRequest } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import type Redis from 'ioredis';
import { worstCaseCharge } from '../../apps/api-gateway/src/admission/worst-case';
import { connect, deleteKeys, uniquePrefix } from '../routing/redis';

/** A PNG's first bytes: its signature and IHDR chunk (what admission reads of it), then nothing of the picture. */
function png(width: number, height: number): string {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.writeUInt8(8, 24);
  b.writeUInt8(6, 25);
  return `data:image/png;base64,${b.toString('base64')}`;
}

/** OpenAI's bill for a 2048×768 image at high detail: 4 × 2 tiles of 512 px, 85 + 170 each. */
const OPENAI_WIDE_IMAGE_TOKENS = 85 + 170 * 8;

/**
 * A budget must never be exceeded by concurrent requests by more than one request's estimate error: admission reserves
 * each request's worst case in one script, and the last one admitted is cut to what the budget leaves. Images were
 * reserved at a fixed 765 tokens whatever their size, so a burst of requests with wide images, each billed 1,445
 * tokens an image by OpenAI, was admitted for about twice what the budget held.
 */
describe('admission of requests with large images under a spend limit', () => {
  const prefix = uniquePrefix();
  const keys = new GovernanceKeys(prefix.slice(0, -1));
  const conn: Redis = connect();
  const store = new AdmissionStore(conn, keys);
  const gpt4o = {
    id: 'openai/gpt-4o',
    provider: { id: 'openai', enabled: true },
    model: { name: 'gpt-4o', promptPer1k: 0.0025, completionPer1k: 0.01, enabled: true },
  } as Deployment;

  beforeAll(() => new QuotaCountersStore(conn, keys).markRebuilt(Date.now()));
  afterAll(async () => {
    await deleteKeys(conn, prefix);
    await conn.quit();
  });

  it('admits no more concurrent requests than the budget pays for at the provider count of their images', async () => {
    const images = 10;
    const request: Pick<GenerationRequest, 'model' | 'messages' | 'options'> = {
      model: 'openai/gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'describe these' },
            ...Array.from({ length: images }, () => ({
              type: 'image_url' as const,
              image_url: { url: png(2048, 768) },
            })),
          ],
        },
      ],
      options: { maxTokens: 1 },
    };
    const charge = worstCaseCharge(request, [gpt4o], 4096);
    const budget = 1;
    const verdicts = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        store.admit({
          keyId: 'k-images',
          userId: 'u-images',
          limits: { ...NO_LIMITS, dailySpendLimitUsd: budget },
          tokens: charge.tokens,
          reserveUsd: charge.reserveUsd,
          media:
            charge.mediaTokens > 0 ? { tokens: charge.mediaTokens, reserveUsd: charge.mediaReserveUsd } : undefined,
          now: Date.now(),
          requestId: `req-images-${i}`,
        }),
      ),
    );
    const admitted = verdicts.filter((v) => v.kind === 'admitted').length;
    // What OpenAI bills each of them (the images alone: the text and the one completion token are a few more).
    const billed = (images * OPENAI_WIDE_IMAGE_TOKENS * 0.0025) / 1000;
    expect(admitted).toBeGreaterThan(0);
    expect(admitted * billed).toBeLessThanOrEqual(budget + billed);
  });
});
