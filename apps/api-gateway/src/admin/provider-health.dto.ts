import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, Max, Min } from 'class-validator';

/** Most checks one history answer carries (newest first); uptime always covers the whole range. */
export const MAX_HEALTH_CHECKS = 1000;

/** `GET /api/v1/ai/admin/providers/:id/health?from&to&limit`: ISO dates or date-times, `[from, to)`. */
export class ProviderHealthQueryDto {
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer' })
  @Min(1)
  @Max(MAX_HEALTH_CHECKS)
  limit?: number;
}
