import { isISO8601 } from 'class-validator';

/** What a key's expiry must be, as the admin API's 400 and the keys CLI's usage error say it. */
export const KEY_EXPIRY_RULE = 'an ISO date-time with a time zone, e.g. 2027-01-31T00:00:00Z';

/**
 * The instant a key's `expiresAt` (`--expires`) names, or null when it is not KEY_EXPIRY_RULE. Strict ISO 8601 (a day
 * that does not exist, 2027-02-30, is refused where a JS Date reads it as one in the next month), a zone (Z or ±hh:mm),
 * and a form a JS Date reads: ISO 8601 also has basic (`20270131T000000Z`), ordinal (`2027-031T…`) and week
 * (`2027-W05-7T…`) forms and hour-only times (`T00Z`), which the validator passes and `new Date()` cannot read. Such an
 * Invalid Date reached PostgreSQL as the key's expiry, and the admin API answered a 500.
 */
export function keyExpiryOf(text: string): Date | null {
  if (!isISO8601(text, { strict: true }) || !/(Z|[+-]\d\d:?\d\d)$/.test(text)) {
    return null;
  }
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at;
}
