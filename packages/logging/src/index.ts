import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line (API keys, auth headers, connection strings). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'apiKey',
  'databaseUrl',
  '*.apiKey',
  '*.databaseUrl',
];

/**
 * The one way traceledger makes a logger: structured JSON with the service name bound and
 * secrets redacted. Tests pass a `destination` stream to read the lines back.
 */
export function createLogger(options: { service: string; level?: string; destination?: DestinationStream }): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
