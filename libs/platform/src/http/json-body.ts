import { isUtf8 } from 'node:buffer';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { awaitsContinue } from './continue';
import { sendError, sendNotRouted } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The JSON body's length in bytes as parsed (after its Content-Encoding is undone; 0 without a JSON body): what
     * the api-gateway's MAX_PENDING_BYTES counts.
     */
    bodyBytes: number;
  }
}

/** Oversized bodies up to this many times the limit are read and discarded before the 413 (see below). */
const DRAIN_FACTOR = 8;

/**
 * Answers a body declared larger than the limit with 413 once the client has finished sending it. Fastify
 * answers at once and closes the connection, and a client still writing its body then fails on a reset
 * socket (EPIPE) without ever reading the 413: an SDK reports a network error instead of "too large".
 * Draining costs reading the bytes, so it stops at DRAIN_FACTOR times the limit; past that the early answer
 * and close stand.
 */
export function installOversizeAnswer(fastify: FastifyInstance, limitBytes: number): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    // In this hook, which every request passes anyway, rather than in one more.
    if (awaitsContinue(req.raw) && answerBeforeContinue(req, reply, limitBytes)) {
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (!(declared > limitBytes) || declared > limitBytes * DRAIN_FACTOR) {
      done();
      return;
    }
    const tooLarge = new GatewayError(ErrorCode.PayloadTooLarge, 'Request body is too large.');
    const answer = (): void => {
      if (!reply.sent) {
        sendError(reply, tooLarge);
      }
    };
    req.raw.once('end', answer);
    req.raw.once('error', answer);
    req.raw.resume();
  });
}

/**
 * What a request sent with `Expect: 100-continue` is told before it sends its body (see `installLateContinue`), in
 * the error envelope with the request id: a path no route takes (404, or 405 naming the methods it takes) and a body
 * declared over the limit (413, at once: nothing to drain, the client holds the body back), and a JSON body in a
 * charset nothing reads (415, as the parser would answer once the body is in). True when answered.
 * The routes' own checks that come before the body (the gateway's API key, an unknown `Content-Type`) answer before
 * it too; other answers read the body first, which sends the `100 Continue`.
 */
function answerBeforeContinue(req: FastifyRequest, reply: FastifyReply, limitBytes: number): boolean {
  if (req.is404) {
    sendNotRouted(req, reply);
    return true;
  }
  if (Number(req.headers['content-length']) > limitBytes) {
    sendError(reply, new GatewayError(ErrorCode.PayloadTooLarge, 'Request body is too large.'));
    return true;
  }
  const contentType = req.headers['content-type'];
  const decoder = contentType !== undefined && JSON_TYPE.test(contentType) ? decoderOf(contentType) : null;
  if (decoder instanceof GatewayError) {
    sendError(reply, decoder);
    return true;
  }
  return false;
}

/** The media type the JSON parser takes (`installJsonParser`), with or without parameters. */
const JSON_TYPE = /^\s*application\/json\s*(;|$)/i;

/** The request content codings a body may come in (RFC 9110 §8.4.1), and what decodes each. */
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** What a 415 for an unknown content coding says the server takes instead (RFC 9110 §12.5.3). */
const ACCEPTED_ENCODINGS = 'gzip, deflate, br';

/**
 * Decodes a body sent with `Content-Encoding` (gzip, deflate, br) before it is parsed: without it the compressed
 * bytes were parsed as JSON and failed as `invalid_json`, the message quoting binary. Another coding (or several) is a
 * 415 naming the ones taken, in `Accept-Encoding`. The body limit applies to the decoded body (Fastify counts what
 * the returned stream yields) as well as to the bytes received (`receivedEncodedLength`, which Fastify also compares
 * with `Content-Length`); decoding stops at the limit, so a compression bomb costs no more than a body at the limit.
 * A body that is not valid in its coding is a 400.
 */
export function installContentDecoding(fastify: FastifyInstance, limitBytes: number): void {
  fastify.addHook('preParsing', (req, reply, payload, done) => {
    const header = req.headers['content-encoding'];
    if (header === undefined) {
      done(null, payload);
      return;
    }
    const coding = header.trim().toLowerCase();
    if (coding === '' || coding === 'identity' || !hasBody(req.headers)) {
      done(null, payload);
      return;
    }
    const decoder = Object.hasOwn(DECODERS, coding) ? DECODERS[coding]() : undefined;
    if (decoder === undefined) {
      void reply.header('accept-encoding', ACCEPTED_ENCODINGS);
      done(
        new GatewayError(
          ErrorCode.UnsupportedMediaType,
          `Content-Encoding '${header.slice(0, 64)}' is not supported: send the body as it is, or in one of ${ACCEPTED_ENCODINGS}.`,
          { param: 'Content-Encoding' },
        ),
      );
      return;
    }
    done(null, decode(payload, decoder, coding, limitBytes));
  });
}

function decode(payload: Readable, decoder: Transform, coding: string, limitBytes: number): Readable {
  const body = new PassThrough() as PassThrough & { receivedEncodedLength: number };
  body.receivedEncodedLength = 0;
  let decoded = 0;
  const stop = (): void => {
    payload.unpipe(decoder);
    decoder.destroy();
  };
  payload.on('data', (chunk: Buffer) => {
    body.receivedEncodedLength += chunk.length;
  });
  decoder.on('data', (chunk: Buffer) => {
    decoded += chunk.length;
    if (decoded > limitBytes) {
      // Fastify answers 413 on this very chunk; the rest is not worth inflating.
      stop();
    }
  });
  decoder.on('error', (err) => {
    stop();
    body.destroy(
      new GatewayError(ErrorCode.InvalidRequest, `Request body is not valid ${coding} data.`, {
        param: 'Content-Encoding',
        cause: err,
      }),
    );
  });
  // A client gone mid-upload: pipe() passes no error on, and the request would wait for a body that never ends.
  payload.once('error', (err) => {
    stop();
    body.destroy(err);
  });
  payload.once('close', () => {
    if (!payload.readableEnded) {
      stop();
      body.destroy(new Error('The request body was cut off.'));
    }
  });
  payload.pipe(decoder).pipe(body);
  return body;
}

/** A request that carries a body (RFC 9112 §6.3): a bodiless GET's Content-Encoding says nothing to decode. */
function hasBody(headers: { 'content-length'?: string; 'transfer-encoding'?: string }): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
}

/** Drops `__proto__` keys so a parsed body can never carry a prototype into code that merges objects. */
function withoutProto(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

/**
 * What makes a body worth parsing with a reviver (most bodies are parsed without one): `__proto__`, its letters
 * written plainly or as `\u` escapes of `_`, `o`, `p`, `r` or `t` (`"\u005f_proto__"` is the same key: testing for the
 * plain spelling alone let it through to the DTOs as an own property), and a `\u` escape of a UTF-16 surrogate
 * (U+D800 to U+DFFF), the only way a lone surrogate gets into a body that is valid UTF-8 (its bytes cannot encode one).
 */
const NEEDS_REVIVER = /__proto__|\\u(?:00(?:5[fF]|6[fF]|7[024])|[dD][89a-fA-F])/;

/** What `parseBody` throws for a string or key holding a lone surrogate; the parser's catch turns it into the 400. */
class LoneSurrogate extends Error {}

/**
 * `withoutProto`, refusing a lone surrogate in any string or key as well. JSON.parse takes `"\ud800"` (ECMA-404 allows
 * the escape) and yields a string that is not well-formed UTF-16, which nothing downstream can hold: PostgreSQL's
 * JSONB refuses the escape (an admin write failed with a 500 from the audit log after the change was applied, then
 * rolled back), a text column gets U+FFFD in its place (a key's name stored silently altered), and the providers,
 * whose parsers follow RFC 8259 strictly, answer 400 "no low surrogate in string" only after the request was queued
 * and sent. A surrogate pair, escaped or not, is one character and is kept.
 */
function checked(key: string, value: unknown): unknown {
  if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) {
    throw new LoneSurrogate(
      'a string holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape not part of a pair): ' +
        'send the whole character, or replace it with U+FFFD',
    );
  }
  return withoutProto(key, value);
}

/** The body's value: the plain, fast JSON.parse unless the text may spell `__proto__` or escapes a surrogate. */
function parseBody(text: string): unknown {
  // Two substring searches first: the regex scans a body at ~0.26 µs per KB, `includes` an order of magnitude
  // faster, and most bodies hold neither `__proto__` nor any `\u` escape.
  const suspect = (text.includes('__proto__') || text.includes('\\u')) && NEEDS_REVIVER.test(text);
  return suspect ? JSON.parse(text, checked) : JSON.parse(text);
}

/**
 * Parses JSON bodies ourselves so that a bad body fails as `invalid_json` in the one error envelope:
 * Nest's Fastify error layer would otherwise turn Fastify's parse error into an anonymous 400. The slow path, which
 * drops `__proto__` keys and refuses lone surrogates, runs only when the text may spell `__proto__` (it may,
 * legitimately, inside a message about JavaScript) or escapes a surrogate (`NEEDS_REVIVER`). Size limits stay Fastify's (413 before parsing). Any other content type, text/plain
 * included, is a 415 (`unsupported_media_type`), unless an app adds its own parser (the config import's YAML).
 */
export function installJsonParser(fastify: FastifyInstance): void {
  // Fastify's default text/plain parser too: a body typed as text is not application/json (415), not a string body.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.decorateRequest('bodyBytes', 0);
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.bodyBytes = (body as Buffer).length;
    const text = decodeText(body as Buffer, req.headers['content-type']);
    if (text instanceof GatewayError) {
      done(text, undefined);
      return;
    }
    if (text.length === 0) {
      // No body at all (a bodiless POST from a client that still sets the header): routes that need one say so in validation.
      done(null, undefined);
      return;
    }
    try {
      done(null, parseBody(text));
    } catch (err) {
      // A RangeError is the reviver's recursion running out of stack on a body nested far too deep (the plain parse
      // has none; the depth limit answers such a body once it is parsed).
      const detail =
        err instanceof SyntaxError || err instanceof LoneSurrogate
          ? `: ${err.message}`
          : err instanceof RangeError
            ? ': it nests too deeply'
            : '';
      done(
        new GatewayError(ErrorCode.InvalidJson, `Request body is not valid JSON${detail}`, { cause: err }),
        undefined,
      );
    }
  });
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;
const UTF8 = /^utf-?8$/i;

/**
 * The body's text: UTF-8 (JSON's encoding, RFC 8259 §8.1) unless the Content-Type names another charset, which is
 * then honoured (a client that says ISO-8859-1 and sends it had every accented letter turned into U+FFFD, silently,
 * in the prompt the provider got); a charset nothing decodes is a 415. A leading byte order mark is ignored (§8.1
 * allows it), as JSON.parse would otherwise refuse the body. Bytes that are not UTF-8 in a body that names no other
 * charset are a 400 (`invalid_json`): decoding them anyway put U+FFFD into the prompt, silently, where the client
 * meant another character (Latin-1 sent without its charset).
 */
function decodeText(body: Buffer, contentType: string | undefined): string | GatewayError {
  const decoder = decoderOf(contentType);
  if (decoder instanceof GatewayError) {
    return decoder;
  }
  let text: string;
  if (decoder === 'utf8') {
    if (!isUtf8(body)) {
      return new GatewayError(
        ErrorCode.InvalidJson,
        'Request body is not valid UTF-8: send it in UTF-8, or name its charset in Content-Type.',
      );
    }
    text = body.toString('utf8');
  } else {
    text = decoder.decode(body);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** What reads a JSON body's bytes: UTF-8 unless the Content-Type names another charset; a 415 for one nothing reads. */
function decoderOf(contentType: string | undefined): 'utf8' | TextDecoder | GatewayError {
  const charset = contentType === undefined ? undefined : CHARSET.exec(contentType)?.[1];
  if (charset === undefined || UTF8.test(charset)) {
    return 'utf8';
  }
  try {
    return new TextDecoder(charset);
  } catch {
    return new GatewayError(
      ErrorCode.UnsupportedMediaType,
      `Charset '${charset.slice(0, 64)}' is not supported: send the body in UTF-8.`,
      { param: 'Content-Type' },
    );
  }
}
