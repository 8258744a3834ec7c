import { keyExpiryOf } from './key-expiry';

describe('keyExpiryOf', () => {
  it.each([
    ['2027-01-31T00:00:00Z', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31T02:00:00+02:00', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31T02:00:00+0200', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31T00:00Z', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31T00:00:00.123Z', '2027-01-31T00:00:00.123Z'],
  ])('reads %s', (text, iso) => {
    expect(keyExpiryOf(text)?.toISOString()).toBe(iso);
  });

  it.each([
    'tomorrow',
    '2027-01-31',
    '2027-01-31T00:00:00',
    '2027-02-30T00:00:00Z',
    // ISO 8601, and no JS Date reads them: they were a 500 of the admin API.
    '2027-01-31T00Z',
    '20270131T000000Z',
    '2027-031T00:00:00Z',
    '2027-W05-7T00:00:00Z',
  ])('refuses %s', (text) => {
    expect(keyExpiryOf(text)).toBeNull();
  });
});
