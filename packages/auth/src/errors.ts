import { TraceLedgerError } from '@traceledger/core';

export const AuthErrorCode = {
  MissingKey: 'TL_AUTH_MISSING_KEY',
  InvalidKey: 'TL_AUTH_INVALID_KEY',
  WrongScope: 'TL_AUTH_WRONG_SCOPE',
  BadRequest: 'TL_AUTH_BAD_REQUEST',
} as const;

/** 401 or 403 for a client; never says whether a key id exists. */
export class AuthError extends TraceLedgerError {
  constructor(code: string, message: string, statusCode: 400 | 401 | 403) {
    super(code, message, { statusCode });
    this.name = 'AuthError';
  }
}
