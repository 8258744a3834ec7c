import { Transform, type TransformFnParams } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { ErrorCode, GatewayError } from '@aigw/core';
import { UUID_PATTERN, type KeysetPage, type KeysetPosition } from '@aigw/entities';
import { NO_NUL } from './admin.dto';
import { StrictBody } from '../validation/strict-body';

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
const LIMIT_MESSAGE = `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`;

/**
 * A query string's whole number, as written in decimal digits; anything else NaN (refused by `@IsInt`). `Number()`
 * (what `@Type(() => Number)` does) took `1e2`, `0x10`, `0b11`, ` 5 ` and `5.0` as numbers of the listing's `limit`.
 */
export function decimalInteger({ value }: TransformFnParams): unknown {
  if (typeof value === 'number') {
    return value;
  }
  return typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
}

/**
 * `?limit&cursor&order` of the admin listings of users and keys (oldest first, or newest first with `order=desc`;
 * `cursor`: the `nextCursor` of a page in the same order).
 */
@StrictBody()
export class ListPageQueryDto {
  @IsOptional()
  @Transform(decimalInteger)
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(MAX_LIST_LIMIT, { message: LIMIT_MESSAGE })
  limit?: number;

  /** Opaque: the `nextCursor` of the page before. */
  @IsOptional()
  @IsString({ message: 'cursor must be the nextCursor of a previous page' })
  cursor?: string;

  /** `asc` (default): oldest first; `desc`: newest first. */
  @IsOptional()
  @IsIn(['asc', 'desc'], { message: 'order must be asc or desc' })
  order?: 'asc' | 'desc';
}

/** `GET /api/v1/ai/admin/users?q&limit&cursor&order`. */
@StrictBody()
export class UserListQueryDto extends ListPageQueryDto {
  /** A name search as typed in a picker: not trimmed (a space may be part of the name sought). */
  @IsOptional()
  @IsString({ message: 'q must be one piece of text' })
  @MaxLength(200, { message: 'q must be at most 200 characters' })
  @Matches(NO_NUL, { message: 'q must not contain NUL characters' })
  @JSONSchema({
    description:
      'Only the users whose name starts with this text, in any case (`ali` finds Alice and ALINA; `%` and `_` are ' +
      'plain characters). Empty: every user. Pass the same `q` with `cursor` for the next page.',
  })
  q?: string;
}

/** `GET /api/v1/ai/admin/keys?userId&limit&cursor`. */
@StrictBody()
export class KeyListQueryDto extends ListPageQueryDto {
  /** Not an empty list: a user id that cannot exist is a mistake the caller should hear about. */
  @IsOptional()
  @IsUUID('all', { message: 'userId must be a user id (a UUID)' })
  userId?: string;
}

/**
 * A page of a listing: `data` as before paging (clients that read only it keep working), and where the next page
 * starts, null on the last one.
 */
export interface ListPage<T> {
  data: T[];
  nextCursor: string | null;
}

export type ListOrder = NonNullable<ListPageQueryDto['order']>;

/**
 * `at`, `id` and the order of the listing that handed it out, as a cursor carries them (base64url of this text; the id
 * as PostgreSQL writes it). The order binds the cursor to its listing: "after" a position means later in time oldest
 * first and earlier newest first, so a cursor replayed in the other order would silently page the wrong way. The
 * format without the order (`<at> <id>`, never in a release: paging and `order` came on the same day) is refused.
 */
const CURSOR = new RegExp(String.raw`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (${UUID_PATTERN}) (asc|desc)$`);

/**
 * Whether `at` (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) names an instant that exists, from year 1 on (PostgreSQL has no year
 * 0): a month 13 or a 30 February passes the pattern, and PostgreSQL's `::timestamptz` refused it with an error that
 * became a 500. A JS Date rolls such fields over, so it must give the same fields back.
 */
function isRealInstant(at: string): boolean {
  const ms = Date.parse(at);
  return Number.isFinite(ms) && !at.startsWith('0000') && new Date(ms).toISOString().slice(0, 19) === at.slice(0, 19);
}

/**
 * The position a `cursor` names in a listing in `order`; a 400 naming `cursor` for anything no page handed out, and
 * for a cursor of the other order.
 */
export function positionOf(cursor: string | undefined, order: ListOrder): KeysetPosition | undefined {
  if (cursor === undefined) {
    return undefined;
  }
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (match === null || Buffer.from(match[0], 'latin1').toString('base64url') !== cursor || !isRealInstant(match[1])) {
    throw new GatewayError(ErrorCode.InvalidRequest, "Invalid 'cursor': use the nextCursor of a previous page.", {
      param: 'cursor',
    });
  }
  if (match[3] !== order) {
    throw new GatewayError(
      ErrorCode.InvalidRequest,
      `Invalid 'cursor': it continues a listing with order=${match[3]}, not order=${order}; ask with the order of the ` +
        'page it came from, or without a cursor to start over.',
      { param: 'cursor' },
    );
  }
  return { at: match[1], id: match[2] };
}

export function listPage<R, T>(page: KeysetPage<R>, view: (row: R) => T, order: ListOrder): ListPage<T> {
  const next = page.next;
  return {
    data: page.items.map(view),
    nextCursor: next === null ? null : Buffer.from(`${next.at} ${next.id} ${order}`, 'latin1').toString('base64url'),
  };
}
