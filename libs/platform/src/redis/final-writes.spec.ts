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

describe('RedisFinalWrites closers', () => {
  it('close after every write finished, newest first, one at a time; a failing close is logged, the rest still run', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const writes = new RedisFinalWrites();
    const order: string[] = [];
    let connectionOpen = true;
    writes.closeAfter(async () => {
      await new Promise((r) => setTimeout(r, 10));
      connectionOpen = false;
      order.push('connection');
    });
    writes.closeAfter(() => {
      order.push(connectionOpen ? 'queue on an open connection' : 'queue after its connection');
      return Promise.reject(new Error('queue already closed'));
    });
    writes.add(async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(connectionOpen ? 'write' : 'write after the close');
    });
    await writes.run();
    expect(order).toEqual(['write', 'queue on an open connection', 'connection']);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('queue already closed'));
    warn.mockRestore();
  });
});
