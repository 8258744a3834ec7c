import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, Max, Min } from 'class-validator';

export const ADMIN_USAGE_GROUP_BYS = ['provider', 'model', 'user', 'day', 'hour'] as const;
export type AdminUsageGroupBy = (typeof ADMIN_USAGE_GROUP_BYS)[number];
export const COST_GROUP_BYS = ['provider', 'user', 'day'] as const;
export type CostGroupBy = (typeof COST_GROUP_BYS)[number];
export const MAX_PAGE_LIMIT = 1000;

/** `from` and `to`: ISO 8601 dates or date-times; the range itself is checked by the service. */
export class RangeQueryDto {
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;
}

/** `GET /api/v1/ai/admin/usage?from&to&groupBy&page&limit`. */
export class AdminUsageQueryDto extends RangeQueryDto {
  @IsOptional()
  @IsIn(ADMIN_USAGE_GROUP_BYS, { message: `groupBy must be one of: ${ADMIN_USAGE_GROUP_BYS.join(', ')}` })
  groupBy?: AdminUsageGroupBy;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'page must be a whole number of at least 1' })
  @Min(1, { message: 'page must be a whole number of at least 1' })
  page?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  @Min(1, { message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  @Max(MAX_PAGE_LIMIT, { message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
  limit?: number;
}

/** `GET /api/v1/ai/admin/costs?from&to&by&format`. */
export class CostsQueryDto extends RangeQueryDto {
  @IsOptional()
  @IsIn(COST_GROUP_BYS, { message: `by must be one of: ${COST_GROUP_BYS.join(', ')}` })
  by?: CostGroupBy;

  @IsOptional()
  @IsIn(['json', 'csv'], { message: 'format must be json or csv' })
  format?: 'json' | 'csv';
}
