import type { QuotaSnapshot } from '@aigw/core';
import { quotaView } from './provider-quota-view';

const NOW = Date.parse('2026-03-01T12:00:00Z');

const direct: QuotaSnapshot = {
  requests: { limit: 100, remaining: 40, resetAt: NOW + 30_000 },
  tokens: { limit: 90000, remaining: 100, resetAt: NOW - 1 },
  observedAt: NOW - 60_000,
};
const gateway: QuotaSnapshot = {
  requests: { limit: null, remaining: 7, resetAt: null },
  tokens: null,
  observedAt: NOW - 1000,
};

describe('quotaView', () => {
  it('shows ISO times, and marks a window whose reset has passed as stale (it has refilled since)', () => {
    expect(quotaView({ direct }, 'direct', 'direct', NOW)).toEqual({
      requests: { limit: 100, remaining: 40, resetAt: '2026-03-01T12:00:30.000Z', stale: false },
      tokens: { limit: 90000, remaining: 100, resetAt: '2026-03-01T11:59:59.999Z', stale: true },
      observedAt: '2026-03-01T11:59:00.000Z',
      route: 'direct',
    });
  });

  it('an unknown reset is never stale: observedAt says how old the figures are', () => {
    expect(quotaView({ gateway }, 'gateway', 'gateway', NOW)?.requests).toEqual({
      limit: null,
      remaining: 7,
      resetAt: null,
      stale: false,
    });
  });

  it('is null when the provider was never observed, or only on a route its routing no longer uses', () => {
    expect(quotaView(undefined, 'direct', 'direct', NOW)).toBeNull();
    expect(quotaView({ gateway }, 'direct', 'direct', NOW)).toBeNull();
    expect(quotaView({ direct }, 'gateway', 'gateway', NOW)).toBeNull();
  });

  it('auto: the route in use first, else the other one, saying which', () => {
    expect(quotaView({ direct, gateway }, 'auto', 'gateway', NOW)?.route).toBe('gateway');
    expect(quotaView({ direct, gateway }, 'auto', 'direct', NOW)?.route).toBe('direct');
    expect(quotaView({ direct }, 'auto', 'gateway', NOW)?.route).toBe('direct');
  });
});
