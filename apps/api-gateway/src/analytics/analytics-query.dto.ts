import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsInstant } from '../validation/validators';
import { StrictBody } from '../validation/strict-body';

export const ADMIN_USAGE_GROUP_BYS = ['provider', 'model', 'user', 'day', 'hour'] as const;
export type AdminUsageGroupBy = (typeof ADMIN_USAGE_GROUP_BYS)[number];
export const COST_GROUP_BYS = ['provider', 'user', 'day'] as const;
export type CostGroupBy = (typeof COST_GROUP_BYS)[number];
export const MAX_PAGE_LIMIT = 1000;
/**
 * Past any page a report can have (a million pages of the largest limit); a bound, so a page number past what a
 * JSON client reads exactly (2^53) is refused rather than echoed back rounded.
 */
const MAX_PAGE = 1_000_000;

/** `from` and `to`: dates or date-times (IsInstant, UTC without a zone); the range itself is checked by the service. */
@StrictBody()
export class RangeQueryDto {
  @IsOptional()
  @IsInstant()
  from?: string;

  @IsOptional()
  @IsInstant()
  to?: string;
}

/** `GET /api/v1/ai/admin/usage?from&to&groupBy&page&limit`. */
@StrictBody()
export class AdminUsageQueryDto extends RangeQueryDto {
  @IsOptional()
  @IsIn(ADMIN_USAGE_GROUP_BYS, { message: `groupBy must be one of: ${ADMIN_USAGE_GROUP_BYS.join(', ')}` })
  groupBy?: AdminUsageGroupBy;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: `page must be a whole number from 1 to ${MAX_PAGE}` })
  @Min(1, { message: `page must be a whole number from 1 to ${MAX_PAGE}` })
  @Max(MAX_PAGE, { message: `page must be a whole number from 1 to ${MAX_PAGE}` })
  page?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  @Min(1, { message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  @Max(MAX_PAGE_LIMIT, { message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  limit?: number;
}

/** `GET /api/v1/ai/admin/costs?from&to&by&format`. */
@StrictBody()
export class CostsQueryDto extends RangeQueryDto {
  @IsOptional()
  @IsIn(COST_GROUP_BYS, { message: `by must be one of: ${COST_GROUP_BYS.join(', ')}` })
  by?: CostGroupBy;

  @IsOptional()
  @IsIn(['json', 'csv'], { message: 'format must be json or csv' })
  format?: 'json' | 'csv';
}
