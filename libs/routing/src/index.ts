export * from './redis-script';
export * from './circuit-breaker.store';
export * from './latency-tracker';
export * from './round-robin-counter';
export * from './route-memory';
export * from './provider-quota.store';
export * from './keys';
export * from './forget-deleted';
