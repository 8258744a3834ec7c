import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';
import { allowedModelEntryProblem, KEY_EXPIRY_RULE, keyExpiryOf } from '@aigw/core';
import { StrictBody } from '../validation/strict-body';

const MAX_RATE = 1_000_000_000;
/** numeric(18,9) holds up to 10^9 dollars. */
const MAX_SPEND_USD = 999_999_999;

/** Present and not null: null means "clear" where a field allows it. */
const isPresent = (_: object, v: unknown): boolean => v !== null && v !== undefined;

function trimmed({ value }: { value: unknown }): unknown {
  return typeof value === 'string' ? value.trim() : value;
}

/** Every entry a model name, `provider/model` or `provider/*`. */
function IsAllowedModelList(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isAllowedModelList',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message:
          'every entry must be a model name, provider/model or provider/* (no spaces around, * only as provider/*)',
        ...options,
      },
      validator: {
        validate: (value: unknown): boolean =>
          Array.isArray(value) && value.every((e) => typeof e === 'string' && allowedModelEntryProblem(e) === null),
      },
    });
}

/**
 * A key's expiry as `keyExpiryOf` reads it (the keys CLI's `--expires` rule too): beside `@IsISO8601`, which also passes
 * ISO 8601 forms a JS Date cannot read (`2027-01-31T00Z`, `20270131T000000Z`, week and ordinal dates).
 */
function IsKeyExpiry(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isKeyExpiry',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: `$property must be ${KEY_EXPIRY_RULE}`, ...options },
      validator: {
        validate: (value: unknown): boolean => typeof value === 'string' && keyExpiryOf(value) !== null,
      },
    });
}

/** PostgreSQL text cannot hold U+0000: such a name was a database error (a 500) before. */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly the character refused.
export const NO_NUL = /^[^\u0000]*$/;

/** `POST /api/v1/ai/admin/users`. */
@StrictBody()
export class CreateUserDto {
  @Transform(trimmed)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  @Matches(NO_NUL, { message: 'name must not contain NUL characters' })
  name!: string;

  /** Checked against the configured tiers by the service. */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  tier?: string;
}

/** `POST /api/v1/ai/admin/keys`. */
@StrictBody()
export class CreateKeyDto {
  @IsUUID('all', { message: 'userId must be a user id (a UUID)' })
  userId!: string;

  @IsOptional()
  @IsIn(['user', 'admin'])
  role?: 'user' | 'admin';

  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(NO_NUL, { message: 'name must not contain NUL characters' })
  name?: string;

  /**
   * ISO 8601 with a time zone; must lie in the future (checked by the service against the clock). `null`, as a key
   * without one lists it: none.
   */
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  @Matches(/(Z|[+-]\d\d:?\d\d)$/, { message: 'expiresAt must name its time zone (Z or ±hh:mm)' })
  @IsKeyExpiry()
  expiresAt?: string | null;

  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(200)
  @IsAllowedModelList()
  allowedModels?: string[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_RATE)
  rpm?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_RATE)
  tpm?: number;
}

/** `PUT /api/v1/ai/admin/quotas/:userId`: absent leaves a field, null clears a limit (the tier's applies). */
@StrictBody()
export class UpdateQuotaDto {
  @ValidateIf((_, v) => v !== undefined)
  @IsString({ message: 'tier must be the name of a configured tier' })
  @IsNotEmpty()
  tier?: string;

  @ValidateIf(isPresent)
  @IsInt()
  @Min(0)
  @Max(MAX_RATE)
  dailyRequestLimit?: number | null;

  @ValidateIf(isPresent)
  @IsInt()
  @Min(0)
  @Max(MAX_RATE)
  monthlyRequestLimit?: number | null;

  @ValidateIf(isPresent)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_SPEND_USD)
  dailySpendLimitUsd?: number | null;

  @ValidateIf(isPresent)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_SPEND_USD)
  monthlySpendLimitUsd?: number | null;
}
