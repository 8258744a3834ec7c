import { Logger } from '@nestjs/common';
import { RedisFinalWrites } from './final-writes';

describe('RedisFinalWrites', () => {
  it('runs every writer and waits for all; one that fails is logged and does not stop the others', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const writes = new RedisFinalWrites();
    const done: string[] = [];
    writes.add(async () => {
      await new Promise((r) => setTimeout(r, 20));
      done.push('slow');
    });
    writes.add(() => Promise.reject(new Error('connection refused')));
    writes.add(() => {
      done.push('fast');
      return Promise.resolve();
    });
    await writes.run();
    expect(done.sort()).toEqual(['fast', 'slow']);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('connection refused'));
    warn.mockRestore();
  });
});
