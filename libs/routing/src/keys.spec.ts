import { routingKeyPrefix } from './keys';

describe('routingKeyPrefix', () => {
  it('puts routing state under <namespace>:routing:', () => {
    expect(routingKeyPrefix('aigw')).toBe('aigw:routing:');
    expect(routingKeyPrefix('e2e-1')).toBe('e2e-1:routing:');
  });
});
