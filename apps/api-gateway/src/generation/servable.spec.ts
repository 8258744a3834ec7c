import { ErrorCode } from '@aigw/core';
import { modelNotFound } from './servable';

describe('modelNotFound', () => {
  it('names the model asked for', () => {
    const err = modelNotFound('gpt-nope');
    expect(err.code).toBe(ErrorCode.ModelNotFound);
    expect(err.message).toBe("The model 'gpt-nope' does not exist or is not enabled.");
  });

  it('quotes no more of a long name than a real one could hold: the answer does not echo the whole body', () => {
    const err = modelNotFound('x'.repeat(100_000));
    expect(err.message.length).toBeLessThan(1200);
    expect(err.message).toContain(`'${'x'.repeat(1024)}…'`);
  });
});
