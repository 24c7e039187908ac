import { Decimal } from '@traceledger/http';
import { TraceLedgerError, normaliseDecimalText } from '@traceledger/core';
import type { Totals } from './repository.js';

/** Exact money: numeric text to a JSON number with the same digits. */
export const money = (text: string | null): Decimal => new Decimal(normaliseDecimalText(text));
/** Exact integer count (token sums can pass 2^53 in principle). */
export const count = (text: string | null): Decimal => new Decimal(text ?? '0');
/** Milliseconds, or null when there is nothing to measure. */
export const ms = (text: string | null): Decimal | null => (text === null ? null : new Decimal(text));

/** Sessions per end status. */
export function statusCounts(t: Totals) {
  return { running: count(t.running), success: count(t.success), error: count(t.error), timeout: count(t.timeout), cancelled: count(t.cancelled) };
}

/** A whole-number query parameter within [min, max], else TL_QUERY_BAD_<NAME> (400). */
export function intParam(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new TraceLedgerError(`TL_QUERY_BAD_${name.toUpperCase()}`, `${name} must be a whole number from ${min} to ${max}, got "${value}"`, { statusCode: 400 });
  }
  return Number(value);
}

/** 404 for an agent or team with no session. */
export function notFound(kind: 'agent' | 'team', id: string): TraceLedgerError {
  return new TraceLedgerError(`TL_QUERY_${kind.toUpperCase()}_NOT_FOUND`, `no ${kind} "${id}" has any session`, { statusCode: 404 });
}
