import { parseArgs } from 'node:util';
import { SCOPES, createApiKey, listApiKeys, revokeApiKey } from '@traceledger/auth';
import type { Pool } from '@traceledger/db';
import { UsageError, type Output } from './output.js';

export const KEYS_HELP = `traceledger keys: API keys per tenant, with scopes (${SCOPES.join(', ')})

  traceledger keys create --tenant T --scope ingest [--scope query] [--label L]
      Creates a key and prints it once; only its hash is stored.
  traceledger keys list [--tenant T]
      Lists keys (id, tenant, scopes, label, created, revoked); never their secrets.
  traceledger keys revoke KEY_ID
      Revokes a key; services stop accepting it within 10 s.

An ingest key can only write, a query key can only read, an admin key can do both.`;

/** `traceledger keys …` */
export async function keysCommand(pool: Pool, args: string[], out: Output): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, scope: { type: 'string', multiple: true }, label: { type: 'string' } } });
    if (!values.tenant) throw new UsageError('keys create needs --tenant T', KEYS_HELP);
    if (!values.scope || values.scope.length === 0) throw new UsageError(`keys create needs at least one --scope (${SCOPES.join(', ')})`, KEYS_HELP);
    const created = await createApiKey(pool, { tenantId: values.tenant, scopes: values.scope, ...(values.label ? { label: values.label } : {}) });
    out.result({ keyId: created.keyId, tenant: created.tenantId, scopes: created.scopes, key: created.key }, [
      `created key ${created.keyId} for tenant ${created.tenantId} with scopes ${created.scopes.join(', ')}`,
      `key (shown once, store it now): ${created.key}`,
    ]);
    return;
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' } } });
    const keys = await listApiKeys(pool, values.tenant);
    out.result(
      keys,
      keys.map((k) => `${k.keyId}\t${k.tenantId}\t${k.scopes.join(',')}\t${k.label ?? ''}\t${k.createdAt.toISOString()}\t${k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active'}`),
    );
    return;
  }
  if (sub === 'revoke') {
    const keyId = rest[0];
    if (!keyId) throw new UsageError('keys revoke needs a KEY_ID', KEYS_HELP);
    const done = await revokeApiKey(pool, keyId);
    if (!done) throw new UsageError(`no active key ${keyId}`, KEYS_HELP);
    out.result({ revoked: keyId }, [`revoked key ${keyId}`]);
    return;
  }
  throw new UsageError(sub === undefined || sub === '--help' ? '' : `unknown keys command "${sub}"`, KEYS_HELP);
}
