import { BaseEnv } from '@aigw/platform';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';

/** The api-gateway's environment, validated once at boot (see `loadEnvOrExit`). */
export class GatewayEnv extends BaseEnv {
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '127.0.0.1';

  /** When set, an admin key with exactly this value exists after boot (stored hashed). */
  @IsOptional()
  @IsString()
  @MinLength(8, { message: 'BOOTSTRAP_ADMIN_KEY must be at least 8 characters' })
  BOOTSTRAP_ADMIN_KEY?: string;

  /** Deadline of a sync or streamed request; 504 past it and the provider call is cancelled. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  REQUEST_TIMEOUT_MS = 120_000;

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  MAX_BODY_BYTES = 2 * 1024 * 1024;

  /** How long a key lookup is trusted; a revoked key stops working within this time. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  AUTH_CACHE_TTL_MS = 5_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  SYNC_JOB_RETENTION_S = 600;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  ASYNC_JOB_RETENTION_S = 86_400;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  IDEMPOTENCY_TTL_S = 86_400;

  /** Completion allowance reserved against spend budgets for a request without max_tokens. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUOTA_DEFAULT_MAX_TOKENS = 4096;

  /** YAML adding or overriding usage tiers (`tiers: { name: { rpm, tpm, dailyRequestLimit, ... } }`); read at boot. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  TIERS_FILE?: string;

  /** Requests per minute per key and per user when neither the key nor the user's tier sets one; unset: unlimited. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  RATE_LIMIT_RPM?: number;

  /** Tokens per minute per key and per user when neither the key nor the user's tier sets one; unset: unlimited. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  RATE_LIMIT_TPM?: number;
}
