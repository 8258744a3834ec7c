import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsInstant } from '../validation/validators';
import { StrictBody } from '../validation/strict-body';
import { decimalInteger } from './admin-page';

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
  @Transform(decimalInteger)
  @IsInt({ message: 'limit must be a whole number in decimal digits' })
  @Min(1)
  @Max(MAX_HEALTH_CHECKS)
  limit?: number;
}
