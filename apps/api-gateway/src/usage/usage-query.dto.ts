import { IsIn, IsOptional } from 'class-validator';
import { USAGE_GROUP_BYS, type UsageGroupBy } from '@aigw/entities';
import { IsInstant } from '../validation/validators';
import { StrictBody } from '../validation/strict-body';

/** `GET /api/v1/ai/usage?from&to&groupBy`: dates or date-times (IsInstant, UTC without a zone); the range is checked by the service. */
@StrictBody()
export class UsageQueryDto {
  @IsOptional()
  @IsInstant()
  from?: string;

  @IsOptional()
  @IsInstant()
  to?: string;

  @IsOptional()
  @IsIn(USAGE_GROUP_BYS, { message: `groupBy must be one of: ${USAGE_GROUP_BYS.join(', ')}` })
  groupBy?: UsageGroupBy;
}
