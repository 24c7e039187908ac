/**
 * Base error of traceledger. Every error that crosses a package boundary carries a stable `code`
 * (never branch on message text), an optional HTTP `statusCode` for errors a client sees, and a
 * `retriable` flag that retry and dead-letter logic reads.
 */
export class TraceLedgerError extends Error {
  readonly code: string;
  readonly statusCode: number | undefined;
  readonly retriable: boolean;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; statusCode?: number; retriable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TraceLedgerError';
    this.code = code;
    this.statusCode = options.statusCode;
    this.retriable = options.retriable ?? false;
  }
}

/** True when `err` is a TraceLedgerError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof TraceLedgerError && err.code === code;
}

/**
 * A value the caller gave that the domain cannot use (a period, a zone, a range, a bucket): the
 * caller's mistake, never the system's. Domain code throws it without knowing who called; the HTTP
 * layer answers it with 400 and its code, the CLI with a usage error.
 */
export class InvalidInputError extends TraceLedgerError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'InvalidInputError';
  }
}
