import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { IngestError, IngestErrorCode } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** SHA-256 of the JSON body as received (after Content-Encoding is undone); set only when the request has an Idempotency-Key. */
    bodySha256: Buffer | null;
  }
}

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * How ingest reads request bodies:
 * - `Content-Encoding: gzip | deflate | br` is undone as the body streams in, and the body limit
 *   (`maxBodyBytes`) applies to the decoded bytes: decoding stops at the limit, so a gzip bomb
 *   costs at most `maxBodyBytes` of output before its 413. Any other encoding gets 415.
 * - Only `application/json` bodies are read (anything else: 415). A JSON body must be UTF-8 (RFC 8259); other bytes get 400 instead of being silently turned
 *   into U+FFFD inside an id. It is then parsed by Fastify's own parser (which refuses
 *   `__proto__` and `constructor.prototype` keys).
 */
export function registerBodyReading(app: FastifyInstance, maxBodyBytes: number): void {
  app.decorateRequest('bodySha256', null);
  app.addHook('preParsing', async (request, _reply, payload) => decoded(request.headers['content-encoding'], payload, maxBodyBytes));
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Only JSON: without this, Fastify would parse text/plain into a string and answer 400 instead of 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new IngestError(IngestErrorCode.BadUtf8, 'the body is not valid UTF-8; JSON must be sent as UTF-8', 400), undefined);
      return;
    }
    if (request.headers['idempotency-key'] !== undefined) request.bodySha256 = createHash('sha256').update(bytes).digest();
    parseJson(request, bytes.toString('utf8'), done);
  });
}

type Encoded = PassThrough & { receivedEncodedLength?: number };

function decoded(header: string | undefined, payload: Readable, limit: number): Readable {
  const encoding = (header ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return payload;
  const make = DECODERS[encoding];
  if (make === undefined) {
    throw new IngestError(IngestErrorCode.UnsupportedEncoding, `Content-Encoding "${encoding}" is not supported; send gzip, deflate, br or no encoding`, 415);
  }
  const decoder = make();
  // Fastify counts what this stream emits against the body limit and compares
  // receivedEncodedLength with Content-Length.
  const out: Encoded = new PassThrough();
  out.receivedEncodedLength = 0;
  // Fastify listens for errors only while it reads the body; a decoding error after it stopped
  // (it refused the content type, or the limit was hit) must not become an uncaught exception.
  out.on('error', () => undefined);
  let decodedBytes = 0;
  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    // The request stream is left alone (destroying it would reset the socket before the answer).
    payload.unpipe(decoder);
    decoder.destroy();
    out.destroy(err);
  };
  decoder.on('data', (chunk: Buffer) => {
    decodedBytes += chunk.length;
    if (decodedBytes > limit) {
      fail(new IngestError(IngestErrorCode.BodyTooLarge, `the body is larger than ${limit} bytes once decompressed; send smaller batches`, 413));
      return;
    }
    out.write(chunk);
  });
  decoder.on('end', () => {
    if (!failed) out.end();
  });
  decoder.on('error', (cause: Error) => fail(new IngestError(IngestErrorCode.BadEncoding, `the body is not valid ${encoding} data: ${cause.message}`, 400, { cause })));
  payload.on('error', (err: Error) => fail(err));
  payload.pipe(decoder);
  payload.on('data', (chunk: Buffer) => {
    out.receivedEncodedLength = (out.receivedEncodedLength ?? 0) + chunk.length;
  });
  return out;
}
