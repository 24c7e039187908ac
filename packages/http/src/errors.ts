import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError, TraceLedgerError } from '@traceledger/core';

/** The JSON body of every error a client sees. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Fastify's own error codes, renamed to traceledger's and given a message a person can act on. */
function fromFastify(err: FastifyError, prefix: string): { status: number; code: string; message: string } | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: `${prefix}_BODY_TOO_LARGE`, message: `request body is larger than the limit: ${err.message}` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: `${prefix}_UNSUPPORTED_MEDIA_TYPE`, message: 'send the body as application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: `${prefix}_EMPTY_BODY`, message: 'the request body is empty; send a JSON object' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: `${prefix}_BAD_JSON`, message: `the body is not valid JSON: ${err.message}` };
    default:
      break;
  }
  if (err.validation) {
    // A bad query parameter gets the parameter's own code (TL_QUERY_BAD_PERIOD), as the
    // handlers' own checks do; anything else is a bad request as a whole.
    const first = err.validation[0];
    const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const param = err.validationContext === 'querystring' ? (/^\/(\w+)/.exec(first?.instancePath ?? '')?.[1] ?? missing) : undefined;
    const code = param ? `${prefix}_BAD_${param.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}` : `${prefix}_BAD_REQUEST`;
    return { status: 400, code, message: err.message };
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
    return { status: 400, code: `${prefix}_BAD_JSON`, message: `the body is not valid JSON: ${err.message}` };
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, code: err.code ? `${prefix}_${err.code.replace(/^FST_ERR_/, '')}` : `${prefix}_BAD_REQUEST`, message: err.message };
  }
  return null;
}

/**
 * What a client is told about `err`: status, stable code and a message a person can act on, with
 * no internals in a 5xx. Logged as it is decided: 4xx at info, 5xx at error.
 */
export function describeError(err: FastifyError, request: FastifyRequest, prefix: string): ErrorBody {
  let status: number;
  let code: string;
  let message: string;
  if (err instanceof InvalidInputError) {
    // The domain's word for "the caller's value is unusable": a 400 with the domain's code.
    status = 400;
    code = err.code;
    message = err.message;
  } else if (err instanceof TraceLedgerError && err.statusCode !== undefined) {
    status = err.statusCode;
    code = err.code;
    message = err.message;
  } else {
    const mapped = fromFastify(err, prefix);
    if (mapped) {
      ({ status, code, message } = mapped);
    } else {
      status = 500;
      code = `${prefix}_INTERNAL`;
      message = 'internal error; it has been logged';
    }
  }
  if (status >= 500) request.log.error({ err, code }, 'request failed');
  else request.log.info({ code, message }, 'request rejected');
  return { statusCode: status, code, error: STATUS_TEXT[status] ?? 'Error', message };
}

/**
 * One error handler for the HTTP services: coded JSON errors (describeError). `prefix` is the
 * service's code prefix (TL_INGEST, TL_QUERY).
 */
export function errorHandler(prefix: string) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const body = describeError(err, request, prefix);
    void reply.status(body.statusCode).send(body);
  };
}

/**
 * For Fastify's `clientErrorHandler`: a request the HTTP parser gave up on (too slow: 408, headers
 * too large: 431, not HTTP: 400) gets the same coded JSON as every other error before the
 * connection is closed. Mirrors Fastify's default handler otherwise.
 */
export function clientErrorHandler(prefix: string) {
  return function (this: { log: { info(obj: object, msg: string): void } }, err: Error & { code?: string }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, `${prefix}_REQUEST_TIMEOUT`, 'the request did not arrive in time; send headers and body without pausing']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, `${prefix}_HEADERS_TOO_LARGE`, 'the request headers are larger than the server accepts']
          : [400, `${prefix}_BAD_HTTP`, 'the request is not valid HTTP/1.1'];
    this.log.info({ code, err: { code: err.code, message: err.message } }, 'client error');
    if (socket.writable) {
      const body = JSON.stringify({ statusCode: status, code, error: STATUS_TEXT[status] ?? 'Error', message } satisfies ErrorBody);
      socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}

/** 404 in the same shape as every other error. */
export function notFoundHandler(prefix: string) {
  return (request: FastifyRequest, reply: FastifyReply): void => {
    const body: ErrorBody = {
      statusCode: 404,
      code: `${prefix}_NOT_FOUND`,
      error: 'Not Found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    };
    void reply.status(404).send(body);
  };
}
