import { uniqueId } from './unique-id';

describe('uniqueId', () => {
  it('is safe as a pg schema, redis prefix and queue name', () => {
    const id = uniqueId();
    expect(id).toMatch(/^t_[0-9a-f]{12}$/);
    expect(uniqueId('usage_test')).toMatch(/^usage_test_[0-9a-f]{12}$/);
  });

  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => uniqueId()));
    expect(ids.size).toBe(1000);
  });

  it.each(['', 'Bad', '1abc', 'has-dash', 'has:colon', 'x'.repeat(41)])('rejects prefix %p', (prefix) => {
    expect(() => uniqueId(prefix)).toThrow(RangeError);
  });
});
