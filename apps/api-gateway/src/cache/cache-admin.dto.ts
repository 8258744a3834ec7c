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
import { StrictBody } from '../validation/strict-body';
import { MAX_WARM_REQUESTS } from './cache-warmer';

/**
 * `DELETE /api/v1/ai/admin/cache[?model=|?prefix=]`: at most one selector; none clears everything. Any other
 * parameter is a 400 naming it: a misspelt or imagined selector (`?models=`, `?provider=`) must not clear everything.
 */
@StrictBody()
export class InvalidateCacheQuery {
  @IsOptional()
  @IsString()
  @IsNotEmpty({ message: 'model must not be empty' })
  @MaxLength(300)
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
