import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsInstant } from '../validation/validators';
import { StrictBody } from '../validation/strict-body';

/** Most checks one history answer carries (newest first); uptime always covers the whole range. */
export const MAX_HEALTH_CHECKS = 1000;

/** `GET /api/v1/ai/admin/providers/:id/health?from&to&limit`: dates or date-times (IsInstant, UTC without a zone), `[from, to)`. */
@StrictBody()
export class ProviderHealthQueryDto {
  @IsOptional()
  @IsInstant()
  from?: string;

  @IsOptional()
  @IsInstant()
  to?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer' })
  @Min(1)
  @Max(MAX_HEALTH_CHECKS)
  limit?: number;
}
