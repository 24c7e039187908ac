import { AuthError, AuthErrorCode } from './errors.js';
import type { KeyStore, Principal, Scope } from './keys.js';

type Headers = Record<string, string | string[] | undefined>;

/** Decides who a request acts for, and whether it may do what it asks. */
export interface Authenticator {
  /** The caller's principal; throws AuthError 401 (no or bad key) or 403 (scope missing). */
  authenticate(headers: Headers, scope: Scope): Promise<Principal>;
}

/**
 * API-key authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`. A key's `admin`
 * scope includes the others. The tenant always comes from the key.
 */
export function apiKeyAuthenticator(store: KeyStore): Authenticator {
  return {
    async authenticate(headers, scope) {
      const key = keyFrom(headers);
      if (key === null) {
        throw new AuthError(AuthErrorCode.MissingKey, 'send an API key: Authorization: Bearer <key> or X-API-Key: <key>', 401);
      }
      const principal = await store.verify(key);
      if (principal === null) throw new AuthError(AuthErrorCode.InvalidKey, 'the API key is not valid (unknown, revoked or mistyped)', 401);
      if (!principal.scopes.includes(scope) && !principal.scopes.includes('admin')) {
        throw new AuthError(AuthErrorCode.WrongScope, `this key does not have the ${scope} scope (it has ${principal.scopes.join(', ')})`, 403);
      }
      return principal;
    },
  };
}

/**
 * Every request acts for one fixed tenant with every scope. For tests that are about something
 * else, and for a single-tenant deployment that opts out of keys (AUTH=none).
 */
export function fixedTenant(tenantId: string): Authenticator {
  return { authenticate: async () => ({ tenantId, keyId: 'none', scopes: ['ingest', 'query', 'admin'] }) };
}

function keyFrom(headers: Headers): string | null {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const auth = first(headers['authorization']);
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1] ?? null;
  }
  const key = first(headers['x-api-key']);
  return key === undefined || key.trim() === '' ? null : key.trim();
}
