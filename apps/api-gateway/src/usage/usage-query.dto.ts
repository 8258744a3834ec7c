import { IsIn, IsISO8601, IsOptional } from 'class-validator';
import { USAGE_GROUP_BYS, type UsageGroupBy } from '@aigw/entities';

/** `GET /api/v1/ai/usage?from&to&groupBy`: ISO dates or date-times; the range is checked by the service. */
export class UsageQueryDto {
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;

  @IsOptional()
  @IsIn(USAGE_GROUP_BYS, { message: `groupBy must be one of: ${USAGE_GROUP_BYS.join(', ')}` })
  groupBy?: UsageGroupBy;
}
