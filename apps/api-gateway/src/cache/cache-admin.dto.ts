import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';

/** `DELETE /api/v1/ai/admin/cache[?model=|?prefix=]`: at most one selector; none clears everything. */
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
