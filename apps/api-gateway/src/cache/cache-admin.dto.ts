import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { NO_NUL } from '../admin/admin.dto';
import { StrictBody } from '../validation/strict-body';
import { MAX_WARM_REQUESTS } from './cache-warmer';

/**
 * `DELETE /api/v1/ai/admin/cache[?model=|?prefix=]`: at most one selector; none clears everything. Any other
 * parameter is a 400 naming it: a misspelt or imagined selector (`?models=`, `?provider=`) must not clear everything.
 * A model with U+0000 in it (`?model=%00`) names no model and is a 400 too: it went on to the audit entry, whose
 * JSONB cannot hold it, and the admin got a 500 for a clear that had already run.
 */
@StrictBody()
export class InvalidateCacheQuery {
  @IsOptional()
  @IsString()
  @IsNotEmpty({ message: 'model must not be empty' })
  @MaxLength(300)
  @Matches(NO_NUL, { message: 'model must not contain NUL characters' })
  model?: string;

  @ValidateIf((q: InvalidateCacheQuery) => q.prefix !== undefined)
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsString()
  @Matches(/^[0-9a-f]{1,64}$/, { message: 'prefix must be 1 to 64 hex digits of a cache key' })
  prefix?: string;
}

/** `POST /api/v1/ai/admin/cache/warm`: each entry a native generate or an OpenAI chat completion request. */
export class WarmCacheDto {
  @IsArray()
  @ArrayNotEmpty({ message: 'requests must not be empty' })
  @ArrayMaxSize(MAX_WARM_REQUESTS, { message: `requests may hold at most ${MAX_WARM_REQUESTS} requests` })
  requests!: unknown[];
}
