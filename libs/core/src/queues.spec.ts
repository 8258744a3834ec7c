import { OUTCOME_MARGIN_MS, outcomeTtlMs } from './queues';

describe('outcomeTtlMs', () => {
  const now = 1_000_000;

  it("keeps a plain sync job's outcome until its request's deadline plus the margin", () => {
    expect(outcomeTtlMs(now + 30_000, 0, now)).toBe(30_000 + OUTCOME_MARGIN_MS);
  });

  it('keeps it at least keepOutcomeMs (Idempotency-Key replays, coalesced followers)', () => {
    expect(outcomeTtlMs(now + 30_000, 600_000, now)).toBe(600_000);
  });

  it('past the deadline and margin, a positive TTL all the same (SET PX refuses 0)', () => {
    expect(outcomeTtlMs(now - 60_000, 0, now)).toBe(1);
  });
});
