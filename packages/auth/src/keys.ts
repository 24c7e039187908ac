import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { AuthError, AuthErrorCode } from './errors.js';

export const SCOPES = ['ingest', 'query', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who a request acts for. */
export interface Principal {
  tenantId: string;
  keyId: string;
  scopes: readonly Scope[];
}

/** Key format: `tl_<keyId>_<secret>`; the key id (12 hex) is public, the secret is 32 random bytes. */
const KEY_RE = /^tl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export interface CreatedKey {
  keyId: string;
  /** The whole key: shown once, never stored. */
  key: string;
  tenantId: string;
  scopes: Scope[];
}

/** Creates a key for a tenant with the given scopes; returns the only copy of the secret. */
export async function createApiKey(pool: Pool, input: { tenantId: string; scopes: readonly string[]; label?: string }): Promise<CreatedKey> {
  if (!TENANT_RE.test(input.tenantId)) {
    throw new AuthError(AuthErrorCode.BadRequest, `tenant "${input.tenantId}" must be 1-64 characters of letters, digits, . _ -, starting with a letter or digit`, 400);
  }
  const scopes = [...new Set(input.scopes)];
  if (scopes.length === 0 || scopes.some((s) => !(SCOPES as readonly string[]).includes(s))) {
    throw new AuthError(AuthErrorCode.BadRequest, `scopes must be one or more of ${SCOPES.join(', ')}; got ${scopes.join(', ') || 'none'}`, 400);
  }
  const keyId = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await pool.query('INSERT INTO api_keys (key_id, tenant_id, scopes, secret_hash, label) VALUES ($1, $2, $3, $4, $5)', [
    keyId,
    input.tenantId,
    scopes,
    hashSecret(secret),
    input.label ?? null,
  ]);
  return { keyId, key: `tl_${keyId}_${secret}`, tenantId: input.tenantId, scopes: scopes as Scope[] };
}

/** Revokes a key; returns false when no such key exists (or it was already revoked). */
export async function revokeApiKey(pool: Pool, keyId: string): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL', [keyId]);
  return (rowCount ?? 0) > 0;
}

export interface KeyInfo {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
  label: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** Lists keys (never their secrets), optionally for one tenant. */
export async function listApiKeys(pool: Pool, tenantId?: string): Promise<KeyInfo[]> {
  const { rows } = await pool.query<{ key_id: string; tenant_id: string; scopes: Scope[]; label: string | null; created_at: Date; revoked_at: Date | null }>(
    'SELECT key_id, tenant_id, scopes, label, created_at, revoked_at FROM api_keys WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, created_at',
    [tenantId ?? null],
  );
  return rows.map((r) => ({ keyId: r.key_id, tenantId: r.tenant_id, scopes: r.scopes, label: r.label, createdAt: r.created_at, revokedAt: r.revoked_at }));
}

/**
 * Verifies API keys against `api_keys`, caching each key id's row for `cacheTtlMs` (so a revoked
 * key stops working within that time) and never caching a miss for longer than a second.
 */
export class KeyStore {
  private readonly cache = new Map<string, { at: number; row: { tenantId: string; scopes: Scope[]; hash: Buffer; revoked: boolean } | null }>();

  constructor(
    private readonly pool: Pool,
    private readonly cacheTtlMs = 10_000,
  ) {}

  /** The principal of a well-formed, known, unrevoked key with a matching secret; else null. */
  async verify(key: string): Promise<Principal | null> {
    const m = KEY_RE.exec(key);
    if (!m) return null;
    const [, keyId = '', secret = ''] = m;
    const row = await this.lookup(keyId);
    if (row === null || row.revoked) return null;
    const given = hashSecret(secret);
    if (given.length !== row.hash.length || !timingSafeEqual(given, row.hash)) return null;
    return { tenantId: row.tenantId, keyId, scopes: row.scopes };
  }

  private async lookup(keyId: string) {
    const now = Date.now();
    const hit = this.cache.get(keyId);
    if (hit && now - hit.at < (hit.row === null ? 1000 : this.cacheTtlMs)) return hit.row;
    const { rows } = await this.pool.query<{ tenant_id: string; scopes: Scope[]; secret_hash: Buffer; revoked_at: Date | null }>(
      'SELECT tenant_id, scopes, secret_hash, revoked_at FROM api_keys WHERE key_id = $1',
      [keyId],
    );
    const r = rows[0];
    const row = r ? { tenantId: r.tenant_id, scopes: r.scopes, hash: r.secret_hash, revoked: r.revoked_at !== null } : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(keyId, { at: now, row });
    return row;
  }
}
