export { ProviderSimulator } from './simulator/provider-simulator';
export { REDACTED_THINKING_TRIGGER } from './simulator/anthropic-wire';
export {
  DEFAULT_SIMULATOR_CONFIG,
  FAIL_MODES,
  type FailMode,
  type SimRateLimit,
  type SimRateWindow,
  type SimulatorConfig,
  SimulatorConfigError,
  validateSimulatorPatch,
} from './simulator/config';
export { type RecordedRequest, type SimulatorStats } from './simulator/stats';
export { simulatorBanner } from './simulator/banner';
export { DEFAULT_EMBEDDING_DIMENSIONS, simulatedEmbedding } from './simulator/embeddings';
export { uniqueId } from './unique-id';
export { sleep, waitFor, type WaitForOptions } from './wait-for';
export { TEST_DATABASE_URL, TEST_REDIS_URL } from './test-services';
export { freePort } from './free-port';
export { BlackHole } from './black-hole';
export { CommitReplyDroppingRelay } from './commit-reply-dropping-relay';
export { CuttableRelay } from './cuttable-relay';
export { ReplyEatingRelay } from './reply-eating-relay';
export { PrivateRedis } from './private-redis';
export { openMonitor } from './redis-monitor';
export { parseSse, type SseEvent } from './sse';
export * from './cleanup';
