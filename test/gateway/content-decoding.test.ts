import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { installContentDecoding } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import Fastify, { type FastifyInstance } from 'fastify';

/** The decoding of compressed request bodies when the client goes away midway (a reset, a client that quits). */
describe('request body decoding, client gone mid-upload', () => {
  let app: FastifyInstance;
  const errors: string[] = [];

  beforeAll(async () => {
    app = Fastify();
    installContentDecoding(app, 64 * 1024);
    app.setErrorHandler((err, _req, reply) => {
      errors.push((err as Error).message);
      void reply.code(400).send({});
    });
    app.post('/x', () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(() => app.close());

  it('ends the request with an error instead of waiting for a body that never comes', async () => {
    const { port } = app.server.address() as { port: number };
    const part = gzipSync(JSON.stringify({ text: 'x'.repeat(4000) })).subarray(0, 40);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n' +
            'Content-Length: 5000\r\n\r\n',
        );
        socket.write(part, () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // Before, pipe() passed the abort on to nothing: the decoded stream never ended, the request never finished.
    await waitFor(() => errors.length > 0, { timeoutMs: 5000, intervalMs: 20 });
    expect(errors).toHaveLength(1);
  });
});
