import { randomUUID } from 'node:crypto';
import type { Pool } from '@traceledger/db';

/** An answer as it was sent: replayed byte for byte. */
export interface StoredAnswer {
  statusCode: number;
  /** The JSON body text. */
  body: string;
}

/** What a request holding an Idempotency-Key found. */
export type Claim =
  /** The key is this request's: it does the work, then `complete`s or `release`s the claim. */
  | { kind: 'claimed'; claimId: string }
  /** An earlier request with the same key and body was answered: send its answer again. */
  | { kind: 'answered'; answer: StoredAnswer }
  /** The key was used with another body. */
  | { kind: 'mismatch' }
  /** A request with the same key and body is being handled right now. */
  | { kind: 'in-progress' };

/**
 * Idempotency keys of `POST /v1/events`, per tenant, in `idempotency_keys` (migration 0009).
 * Every step is one statement, so two requests with the same key, in this process or another,
 * cannot both claim it: the primary key decides.
 */
export class IdempotencyStore {
  constructor(
    private readonly pool: Pool,
    private readonly options: {
      /** Answers older than this are forgotten: the key is new again, in ms. */
      ttlMs: number;
      /** A claim still in progress after this long was left by a process that died; the next request with the same body takes it over, in ms. */
      abandonedAfterMs: number;
    },
  ) {}

  /** Claims `key` for this request, or says what holds it. */
  async claim(tenantId: string, key: string, bodySha256: Buffer): Promise<Claim> {
    // Bounded: each round either claims, finds a row, or finds that its owner released it.
    for (let round = 0; round < 5; round++) {
      const claimId = randomUUID();
      const { rows: claimed } = await this.pool.query<{ claim_id: string }>(
        `INSERT INTO idempotency_keys AS k (tenant_id, key, body_sha256, status, claim_id)
         VALUES ($1, $2, $3, 'in_progress', $4)
         ON CONFLICT (tenant_id, key) DO UPDATE
           SET body_sha256 = EXCLUDED.body_sha256, status = 'in_progress', claim_id = EXCLUDED.claim_id,
               response_status = NULL, response = NULL, created_at = now(), updated_at = now()
           WHERE k.created_at < now() - $5::bigint * interval '1 millisecond'
              OR (k.status = 'in_progress' AND k.body_sha256 = EXCLUDED.body_sha256
                  AND k.updated_at < now() - $6::bigint * interval '1 millisecond')
         RETURNING claim_id`,
        [tenantId, key, bodySha256, claimId, this.options.ttlMs, this.options.abandonedAfterMs],
      );
      if (claimed[0]?.claim_id === claimId) return { kind: 'claimed', claimId };
      const { rows } = await this.pool.query<{ body_sha256: Buffer; status: string; response_status: number | null; response: string | null }>(
        'SELECT body_sha256, status, response_status, response::text AS response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2',
        [tenantId, key],
      );
      const row = rows[0];
      if (row === undefined) continue; // released by its owner between the two statements
      if (!row.body_sha256.equals(bodySha256)) return { kind: 'mismatch' };
      if (row.status === 'done' && row.response_status !== null && row.response !== null) {
        return { kind: 'answered', answer: { statusCode: row.response_status, body: row.response } };
      }
      return { kind: 'in-progress' };
    }
    return { kind: 'in-progress' };
  }

  /** Stores the answer of a claimed key. */
  async complete(tenantId: string, key: string, claimId: string, answer: StoredAnswer): Promise<void> {
    await this.pool.query(
      `UPDATE idempotency_keys SET status = 'done', response_status = $4, response = $5::json, updated_at = now()
       WHERE tenant_id = $1 AND key = $2 AND claim_id = $3`,
      [tenantId, key, claimId, answer.statusCode, answer.body],
    );
  }

  /** Gives a claimed key up (the request could not be answered), so that a retry starts afresh. */
  async release(tenantId: string, key: string, claimId: string): Promise<void> {
    await this.pool.query('DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND claim_id = $3', [tenantId, key, claimId]);
  }
}

/** Deletes idempotency keys older than `ttlMs` (they are never replayed anyway); returns how many. */
export async function deleteExpiredIdempotencyKeys(pool: Pool, ttlMs: number): Promise<number> {
  const { rowCount } = await pool.query("DELETE FROM idempotency_keys WHERE created_at < now() - $1::bigint * interval '1 millisecond'", [ttlMs]);
  return rowCount ?? 0;
}
