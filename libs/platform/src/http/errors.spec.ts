import type { FastifyReply } from 'fastify';
import { ErrorCode, GatewayError } from '@aigw/core';
import { sendError } from './errors';

/** A reply whose request's connection closed before its body arrived. */
function replyWithBodyBrokenOff(): { reply: FastifyReply; sent: { status?: number; body?: unknown } } {
  const sent: { status?: number; body?: unknown } = {};
  const reply = {
    request: { raw: { destroyed: true, complete: false }, url: '/v1/chat/completions' },
    header: () => reply,
    status: (code: number) => {
      sent.status = code;
      return reply;
    },
    send: (body: unknown) => {
      sent.body = body;
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, sent };
}

describe('sendError for a request whose body was broken off', () => {
  it("answers the body read's own failure (Node's `aborted`, ECONNRESET) as the client leaving: a 400", () => {
    const { reply, sent } = replyWithBodyBrokenOff();
    sendError(reply, Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    expect(sent.status).toBe(400);
    expect(sent.body).toMatchObject({ error: { code: ErrorCode.InvalidRequest } });
  });

  it('keeps any other error met meanwhile as it is', () => {
    const { reply, sent } = replyWithBodyBrokenOff();
    sendError(reply, new GatewayError(ErrorCode.ServiceUnavailable, 'PostgreSQL is unavailable.'));
    expect(sent.status).toBe(503);
  });
});
