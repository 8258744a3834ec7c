import { EventEmitter } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import { ConnectionDrainer } from './connection-drainer';

/** A connection as the drain sees it: what it has read, the answer being written on it, whether it is destroyed. */
interface FakeSocket extends EventEmitter {
  bytesRead: number;
  destroyed: boolean;
  _httpMessage: ServerResponse | null;
  destroy: jest.Mock;
}

interface FakeServer extends EventEmitter {
  headersTimeout: number;
  requestTimeout: number;
  closeIdleConnections: jest.Mock;
}

function fakeSocket(bytesRead = 0): FakeSocket {
  const socket = Object.assign(new EventEmitter(), {
    bytesRead,
    destroyed: false,
    _httpMessage: null,
    destroy: jest.fn(() => {
      socket.destroyed = true;
    }),
  });
  return socket;
}

/** The answer Node made for a request once its head arrived; `complete`: its body has all arrived too. */
function answer(complete: boolean, headersSent = false): ServerResponse {
  return { req: { complete }, headersSent } as unknown as ServerResponse;
}

function setUp(timeouts = { headersTimeout: 1_000, requestTimeout: 5_000 }): {
  drainer: ConnectionDrainer;
  server: FakeServer;
  connect: (socket: FakeSocket) => FakeSocket;
} {
  const server: FakeServer = Object.assign(new EventEmitter(), { ...timeouts, closeIdleConnections: jest.fn() });
  const drainer = new ConnectionDrainer(server as unknown as Server);
  const connect = (socket: FakeSocket): FakeSocket => {
    server.emit('connection', socket);
    return socket;
  };
  return { drainer, server, connect };
}

describe('ConnectionDrainer', () => {
  it('destroys a connection that read nothing only once a second round finds it still silent', () => {
    const { drainer, connect } = setUp();
    const spare = connect(fakeSocket());
    drainer.drain(0);
    // A client that connected just now may be writing its request.
    expect(spare.destroy).not.toHaveBeenCalled();
    drainer.drain(100);
    expect(spare.destroy).toHaveBeenCalledTimes(1);
  });

  it('keeps a connection that read nothing while a request is in flight, and closes it once none is', () => {
    const { drainer, connect } = setUp();
    const used = connect(fakeSocket(10));
    used._httpMessage = answer(true);
    const spare = connect(fakeSocket());
    drainer.drain(0);
    drainer.drain(100);
    // In flight: the spare stays, for a late request to get the closing 503.
    expect(spare.destroy).not.toHaveBeenCalled();
    used.destroyed = true;
    drainer.drain(200);
    expect(spare.destroy).toHaveBeenCalledTimes(1);
  });

  it('never cuts a request that has arrived and is being answered, however long', () => {
    const { drainer, server, connect } = setUp();
    const streaming = connect(fakeSocket(300));
    streaming._httpMessage = answer(true, true);
    for (let now = 0; now <= 60_000; now += 100) {
      drainer.drain(now);
    }
    expect(streaming.destroy).not.toHaveBeenCalled();
    expect(server.listenerCount('clientError')).toBe(0);
  });

  it('answers 408 to a request whose head has not all arrived within headersTimeout', () => {
    const { drainer, server, connect } = setUp();
    const answered: string[] = [];
    server.on('clientError', (err: NodeJS.ErrnoException, socket: FakeSocket) => {
      answered.push(err.code ?? '');
      socket.destroy();
    });
    const stalled = connect(fakeSocket(20));
    drainer.drain(0);
    drainer.drain(999);
    expect(answered).toEqual([]);
    drainer.drain(1_000);
    expect(answered).toEqual(['ERR_HTTP_REQUEST_TIMEOUT']);
    expect(stalled.destroyed).toBe(true);
  });

  it('gives a request whose body is arriving requestTimeout from when its head was first seen arriving', () => {
    const { drainer, connect } = setUp();
    const uploading = connect(fakeSocket(20));
    drainer.drain(0);
    // The head came; the body is on its way.
    uploading._httpMessage = answer(false);
    drainer.drain(4_999);
    expect(uploading.destroy).not.toHaveBeenCalled();
    // No clientError listener: destroyed.
    drainer.drain(5_000);
    expect(uploading.destroy).toHaveBeenCalledTimes(1);
  });

  it('destroys, without a 408, a connection whose answer began before its request had all arrived', () => {
    const { drainer, server, connect } = setUp();
    const clientError = jest.fn();
    server.on('clientError', clientError);
    const early = connect(fakeSocket(20));
    early._httpMessage = answer(false, true);
    drainer.drain(0);
    drainer.drain(5_000);
    expect(clientError).not.toHaveBeenCalled();
    expect(early.destroy).toHaveBeenCalledTimes(1);
  });

  it('times the next request on a kept-alive connection from when it is first seen, not from the one before', () => {
    const { drainer, connect } = setUp();
    const keptAlive = connect(fakeSocket(20));
    keptAlive._httpMessage = answer(false);
    drainer.drain(0);
    // That request arrived and was answered; the next one's head is arriving.
    keptAlive._httpMessage = null;
    drainer.drain(4_000);
    drainer.drain(4_999);
    expect(keptAlive.destroy).not.toHaveBeenCalled();
    drainer.drain(5_000);
    expect(keptAlive.destroy).toHaveBeenCalledTimes(1);
  });

  it('leaves a stalled request alone when the receive timeout is 0 (no limit) for its body', () => {
    const { drainer, connect } = setUp({ headersTimeout: 60_000, requestTimeout: 0 });
    const uploading = connect(fakeSocket(20));
    uploading._httpMessage = answer(false);
    drainer.drain(0);
    drainer.drain(3_600_000);
    expect(uploading.destroy).not.toHaveBeenCalled();
  });

  describe('its interval', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('starts once however often it is started, and stops when the server has closed', () => {
      const { drainer, server } = setUp();
      drainer.start();
      drainer.start();
      expect(jest.getTimerCount()).toBe(1);
      expect(server.closeIdleConnections).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(100);
      expect(server.closeIdleConnections).toHaveBeenCalledTimes(2);
      // Without stop() (the gateway's onApplicationShutdown: the adapter's close may reject before it).
      server.emit('close');
      expect(jest.getTimerCount()).toBe(0);
      drainer.start();
      expect(jest.getTimerCount()).toBe(0);
    });

    it('stops when told', () => {
      const { drainer } = setUp();
      drainer.start();
      drainer.stop();
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
