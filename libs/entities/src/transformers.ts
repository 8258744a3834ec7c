import type { ValueTransformer } from 'typeorm';

/**
 * node-postgres returns `numeric` as a string so that no precision is lost on the way; our
 * numeric columns (prices, costs at 1e-9 USD) fit a double comfortably, so read them as numbers.
 */
export const numericTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** node-postgres returns `bigint` as a string; a counter stays far below 2^53, so read it as a number. */
export const bigintCountTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
