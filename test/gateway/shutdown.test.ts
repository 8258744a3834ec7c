import type { Server } from 'node:http';
import net from 'node:net';
import { QueueName, type UsageBatch } from '@aigw/core';
import { inFlightNames, inFlightTtlMs, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ReplyChannel } from '../../apps/router-worker/src/jobs/reply-channel';
import { chat, GatewayHarness, REDIS_URL, sleep, type ErrorEnvelope } from './support';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** A connection opened now, whose one request is written by `send`: it reaches the server whenever the test says. */
async function openConnection(
  url: string,
): Promise<{ send: (request: string) => Promise<RawAnswer>; destroy: () => void }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    send: async (request) => {
      socket.write(request);
      // The answers below close the connection (connection: close), which is what the test waits for.
      await ended;
      const [head, body] = received.split('\r\n\r\n', 2);
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const json = (headers['content-type'] ?? '').startsWith('application/json');
      return { status: Number(statusLine.split(' ')[1]), headers, body: json ? JSON.parse(body) : body };
    },
    destroy: () => socket.destroy(),
  };
}

/** A connection as a client sees it: what came back so far, and whether the server has closed it. */
interface RawConnection {
  socket: net.Socket;
  received: () => string;
  closed: () => boolean;
}

/** Connects to the app, and resolves once the app's server has accepted the connection (its 'connection' event). */
async function acceptedConnection(url: string, server: Server): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  let accepted = (): void => undefined;
  const isAccepted = new Promise<void>((resolve) => (accepted = resolve));
  const socket = net.connect(Number(port), hostname);
  const onConnection = (peer: net.Socket): void => {
    if (peer.remotePort === socket.localPort) {
      accepted();
    }
  };
  server.on('connection', onConnection);
  let received = '';
  let closed = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined).once('close', () => (closed = true));
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    await isAccepted;
  } finally {
    server.off('connection', onConnection);
  }
  return { socket, received: () => received, closed: () => closed };
}

function rawPost(route: string, body: unknown, key: string): string {
  const text = JSON.stringify(body);
  return (
    `POST ${route} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${key}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
  );
}

/** SIGTERM path (app.close()): in-flight waits finish within the grace period, the rest get 503. */
describe('api-gateway graceful shutdown', () => {
  it('lets an in-flight request finish after shutdown began', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    try {
      h.handle(async (job) => {
        await sleep(700);
        return h.answer(job, 'finished during shutdown');
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      const res = await pending;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
        'finished during shutdown',
      );
      await closing;
    } finally {
      await h.stop();
    }
  }, 30_000);

  it('counts the cache use of answers finished while the server drains, before Redis closes', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    const reader = new Redis(REDIS_URL);
    try {
      // sim-gpt has no cache: each answer counts one bypass, collected in process and flushed to the shared totals.
      expect((await h.post('/v1/chat/completions', chat('before'))).status).toBe(200);
      h.handle(async (job) => {
        await sleep(700);
        return h.answer(job, 'finished during shutdown');
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 2);
      const closing = h.closeApp();
      expect((await pending).status).toBe(200);
      await closing;
      // The second count came after beforeApplicationShutdown, while the server drained: it is in the totals only if
      // the last flush ran after the drain and before RedisModule closed the connection (RedisFinalWrites).
      expect(await reader.hgetall(`${h.prefix}:cache-stats`)).toEqual({ bypass: '2' });
      // Its kept outcome, released once answered, is deleted by the same final writes (not left to its TTL).
      expect(await reader.exists(h.outcomeKey(h.jobsSeen[1]))).toBe(0);
    } finally {
      reader.disconnect();
      await h.stop();
    }
  }, 30_000);

  it('queues the usage of a coalesced follower answered while the server drains, before the producer connection closes', async () => {
    // The longest linger: the follower's event cannot ship by its timer before the app closes, only by the final flush.
    const h = await new GatewayHarness({
      SHUTDOWN_GRACE_MS: '5000',
      CACHE_ENABLED: 'true',
      USAGE_LINGER_MS: '1000',
    }).start();
    const reader = new Redis(REDIS_URL);
    const usageJobs = new Queue<UsageBatch>(QueueName.Usage, { connection: reader, prefix: `{${h.prefix}}` });
    try {
      const keys = new RedisKeys(h.prefix);
      let marker = '';
      let closeBegan = false;
      h.handle(async (job) => {
        const { request, replyTo, coalescingKey } = job.data;
        const jobId = job.id ?? '';
        const names = coalescingKey === undefined ? null : inFlightNames(keys, coalescingKey, jobId);
        marker = names?.marker ?? '';
        // The answer comes while the server drains: after the app began closing (its hooks before the drain ran).
        await waitFor(() => closeBegan, { message: 'the app did not begin closing' });
        await sleep(300);
        // As the worker answers a coalesced job: to the leader's gateway and, mirrored, to the job's followers.
        const mirror = names === null ? null : { names, ttlMs: inFlightTtlMs(request.deadlineAt) };
        const reply = new ReplyChannel(reader, replyTo, jobId, { mirror });
        const outcome = await h.answer(job, 'finished during shutdown', { publish: false });
        if (outcome.ok) {
          reply.send({ t: 'result', jobId, result: outcome.result });
        }
        await reply.settle();
        return outcome;
      });
      const pending = [h.post('/v1/chat/completions', chat('same')), h.post('/v1/chat/completions', chat('same'))];
      // Both requests wait for the one job (its in-flight marker counts two) before the app closes.
      await waitFor(async () => marker !== '' && (await reader.hget(marker, 'n')) === '2', {
        message: "the second request did not join the first one's job",
      });
      const closing = h.closeApp();
      closeBegan = true;
      const answers = await Promise.all(pending);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      const follower = answers.find((r) => r.headers.get('x-gateway-coalesced') === 'true');
      expect(follower).toBeDefined();
      await closing;
      // Queued by the gateway (the leader's usage is the worker's to record), after the drain, by REDIS's final writes.
      const events = (await usageJobs.getWaiting(0, -1)).flatMap((j) => j.data.events);
      expect(events.map((e) => e.requestId)).toEqual([follower?.headers.get('x-request-id')]);
      expect(h.jobsSeen).toHaveLength(1);
    } finally {
      await usageJobs.close();
      reader.disconnect();
      await h.stop();
    }
  }, 30_000);

  it('answers a request that reaches the closing server in the error envelope, to be sent to another replica', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const connections: Awaited<ReturnType<typeof openConnection>>[] = [];
    try {
      h.handle(async (job) => {
        await released;
        return h.answer(job, 'finished during shutdown');
      });
      // Connections a load balancer or a client's pool opened before the shutdown, and use during it.
      connections.push(...(await Promise.all([openConnection(h.url), openConnection(h.url)])));
      const [openAi, anthropic] = connections;
      // An in-flight request keeps the server closing (not closed) while the others arrive.
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      await waitFor(() => !h.app.getHttpServer().listening, { message: 'the server did not begin closing' });

      const chatAnswer = await openAi.send(rawPost('/v1/chat/completions', chat('late'), h.adminKey));
      expect(chatAnswer.status).toBe(503);
      expect(chatAnswer.body).toEqual({
        error: {
          message: expect.any(String),
          type: 'service_unavailable_error',
          code: 'service_unavailable',
          param: null,
        },
      });
      expect(chatAnswer.headers).toMatchObject({ 'retry-after': '1', connection: 'close' });
      expect(chatAnswer.headers['x-request-id']).toMatch(/^req_/);

      const message = { model: 'sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'late' }] };
      const messagesAnswer = await anthropic.send(rawPost('/v1/messages', message, h.adminKey));
      expect(messagesAnswer.status).toBe(503);
      expect(messagesAnswer.body).toMatchObject({
        type: 'error',
        error: { type: 'overloaded_error', code: 'service_unavailable' },
      });
      expect(messagesAnswer.headers).toMatchObject({ 'retry-after': '1', connection: 'close' });
      expect(messagesAnswer.headers['request-id']).toBe(messagesAnswer.headers['x-request-id']);
      expect(messagesAnswer.headers['x-request-id']).toMatch(/^req_/);
      // Neither became a job.
      expect(h.jobsSeen).toHaveLength(1);

      release();
      expect((await pending).status).toBe(200);
      await closing;
    } finally {
      release();
      connections.forEach((c) => c.destroy());
      await h.stop();
    }
  }, 30_000);

  /** The answer to `body`, sent before the gateway began to close and answered once it has. */
  async function answeredWhileClosing(body: object): Promise<RawAnswer> {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const connection = await openConnection(h.url);
    try {
      h.handle(async (job) => {
        await released;
        return h.answer(job, 'finished during shutdown');
      });
      const pending = connection.send(rawPost('/v1/chat/completions', body, h.adminKey));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      await waitFor(() => !h.app.getHttpServer().listening, { message: 'the server did not begin closing' });
      release();
      const answer = await pending;
      await closing;
      return answer;
    } finally {
      release();
      connection.destroy();
      await h.stop();
    }
  }

  it('closes the connection of a request answered while the server closes, before the client sends another on it', async () => {
    // Kept alive, the connection would be closed by the drain as soon as it is idle: a request the client sent on
    // it meanwhile would fail on a reset connection (ECONNRESET), unanswered, instead of going to another replica.
    const answer = await answeredWhileClosing(chat('x'));
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe('close');
  }, 30_000);

  it('closes the connection of a stream that opens while the server closes (an SSE head is written by hand)', async () => {
    const answer = await answeredWhileClosing(chat('x', { stream: true }));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/event-stream');
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toContain('data: [DONE]');
  }, 30_000);

  it('closes the connections a client never sent a request on, or idle after one, when nothing else is in flight', async () => {
    // A load balancer's (or fetch's) spare connection, opened before the shutdown and never sent a byte, held the
    // server's close open until the process's hard exit: Node counts it as a request in progress, not as idle.
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '30000' }).start();
    const server: Server = h.app.getHttpServer();
    const connections: RawConnection[] = [];
    try {
      const [spare, keptAlive] = await Promise.all([
        acceptedConnection(h.url, server),
        acceptedConnection(h.url, server),
      ]);
      connections.push(spare, keptAlive);
      keptAlive.socket.write('GET /health/live HTTP/1.1\r\nhost: localhost\r\n\r\n');
      await waitFor(() => /\r\n\r\n\{.*\}$/s.test(keptAlive.received()), {
        message: 'no answer on the kept-alive one',
      });
      expect(keptAlive.received()).toMatch(/^HTTP\/1\.1 200 /);

      let closed = false;
      const closing = h.closeApp().then(() => (closed = true));
      // Well within the grace period (30 s), and not by the watchdog's hard exit: the close waits for neither client.
      await waitFor(() => closed, { timeoutMs: 10_000, message: 'the app did not close' });
      await closing;
      await waitFor(() => spare.closed() && keptAlive.closed(), { message: 'the clients did not see their close' });
      expect(spare.received()).toBe('');
    } finally {
      connections.forEach((c) => c.socket.destroy());
      await h.stop();
    }
  }, 60_000);

  it('keeps a connection without a request open while a stream is in flight, then closes it with the server', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '30000' }).start();
    const server: Server = h.app.getHttpServer();
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const connections: RawConnection[] = [];
    try {
      h.handle(async (job) => {
        const jobId = job.id ?? '';
        await h.publish(job, h.startMessage(job));
        await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'first' });
        await released;
        await h.publish(job, { t: 'chunk', jobId, seq: 1, text: ' last' });
        const outcome = await h.answer(job, 'first last', { publish: false });
        if (outcome.ok) {
          await h.publish(job, { t: 'end', jobId, result: outcome.result });
        }
        return outcome;
      });
      const stream = await h.post('/v1/chat/completions', chat('x', { stream: true }));
      const reader = stream.body?.getReader();
      let streamed = '';
      const readStream = async (until: string): Promise<void> => {
        while (!streamed.includes(until)) {
          const part = await reader?.read();
          if (part === undefined || part.done) {
            return;
          }
          streamed += Buffer.from(part.value).toString();
        }
      };
      await readStream('first');
      expect(streamed).toContain('first');

      const [used, spare, partial] = await Promise.all([
        acceptedConnection(h.url, server),
        acceptedConnection(h.url, server),
        acceptedConnection(h.url, server),
      ]);
      connections.push(used, spare, partial);
      // A request whose head is still arriving when the close begins.
      partial.socket.write('GET /health/live HTTP/1.1\r\nhost: loc');

      let closed = false;
      const closing = h.closeApp().then(() => (closed = true));
      await waitFor(() => !server.listening, { message: 'the server did not begin closing' });
      // Several of the drain's rounds (100 ms apart) pass while the stream runs: the close cannot end before it
      // does, so a connection without a request stays usable, for a late request to get the 503 that sends it on.
      await sleep(500);
      used.socket.write('GET /health/live HTTP/1.1\r\nhost: localhost\r\n\r\n');
      await waitFor(() => used.closed(), { message: 'the late request was not answered' });
      expect(used.received()).toMatch(/^HTTP\/1\.1 503 /);
      expect(used.received().toLowerCase()).toContain('connection: close');
      // And the request whose head was arriving is answered, not cut.
      expect(partial.closed()).toBe(false);
      partial.socket.write('alhost\r\n\r\n');
      await waitFor(() => partial.closed(), { message: 'the partial request was not answered' });
      expect(partial.received()).toMatch(/^HTTP\/1\.1 503 /);
      expect(spare.closed()).toBe(false);

      release();
      await readStream('data: [DONE]');
      expect(streamed).toContain(' last');
      expect(streamed).toContain('data: [DONE]');
      // The stream over, nothing but the spare connection is left: the server closes it rather than wait for it.
      await waitFor(() => closed, { timeoutMs: 10_000, message: 'the app did not close' });
      await closing;
      await waitFor(() => spare.closed(), { message: 'the client did not see its close' });
      expect(spare.received()).toBe('');
    } finally {
      release();
      connections.forEach((c) => c.socket.destroy());
      await h.stop();
    }
  }, 60_000);

  it('answers 408 to a request whose head stalls while the server closes, within the receive timeout', async () => {
    // server.close() stops Node's check of requestTimeout / headersTimeout: a client that sent half a head and
    // stalled held the close open until the process's hard exit at the end of the grace period (30 s here).
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '30000', HTTP_RECEIVE_TIMEOUT_MS: '2000' }).start();
    const server: Server = h.app.getHttpServer();
    const connections: RawConnection[] = [];
    try {
      const stalled = await acceptedConnection(h.url, server);
      connections.push(stalled);
      stalled.socket.write('GET /health/live HTTP/1.1\r\nhost: loc');

      let closed = false;
      const closing = h.closeApp().then(() => (closed = true));
      // Well within the grace period, and not by the watchdog's hard exit.
      await waitFor(() => closed, { timeoutMs: 20_000, message: 'the app did not close' });
      await closing;
      await waitFor(() => stalled.closed(), { message: 'the client did not see its close' });
      expect(stalled.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      connections.forEach((c) => c.socket.destroy());
      await h.stop();
    }
  }, 60_000);

  it('answers 503 to what still waits when the grace period ends, and cancels it', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '500' }).start();
    try {
      h.handle(async (job) => {
        await h.cancelled(job.id ?? '');
        return h.answer(job, 'unused', { publish: false });
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as ErrorEnvelope).error.code).toBe('service_unavailable');
      await closing;
      await waitFor(() => h.cancels.length === 1, { message: 'no cancel for the abandoned job' });
    } finally {
      await h.stop();
    }
  }, 30_000);
});
