import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsString, Max, Min } from 'class-validator';
import { BaseEnv } from '@aigw/platform';

/** The router-worker's environment, validated once at boot (see `loadEnvOrExit`). */
export class WorkerEnv extends BaseEnv {
  /** Port of the small ops server (`/health/*`, `/metrics`); 0 picks a free one. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65_535)
  PORT = 3001;

  @IsString()
  @IsNotEmpty()
  HOST = '127.0.0.1';

  /** Generate jobs processed in parallel by one process (they mostly wait on providers). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  WORKER_CONCURRENCY = 64;

  /** A job's lock lives this long unless renewed; a dead worker's job is taken over soon after it lapses. */
  @Type(() => Number)
  @IsInt()
  @Min(500)
  @Max(600_000)
  WORKER_LOCK_MS = 10_000;

  /** How often this worker looks for jobs whose lock lapsed (their worker died). */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  WORKER_STALLED_INTERVAL_MS = 5_000;

  /** Takeovers allowed per job before it is failed (a job that keeps killing workers must stop somewhere). */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(100)
  WORKER_MAX_STALLED_COUNT = 2;

  /** Usage jobs held at once by the writer; bounds how many events one batch can gather. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  USAGE_CONCURRENCY = 256;

  /** Rows per INSERT (one statement per batch); bigger batches mean fewer round trips but longer transactions. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(2_000)
  USAGE_BATCH_SIZE = 200;

  /** Longest an event waits in the buffer for its batch to fill. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60_000)
  USAGE_FLUSH_MS = 50;
}
