import { newRequestId } from './ids';

describe('newRequestId', () => {
  it('is req_ and 32 lowercase hex digits, different each time', () => {
    const ids = Array.from({ length: 1000 }, newRequestId);
    for (const id of ids) {
      expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
