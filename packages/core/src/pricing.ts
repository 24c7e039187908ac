import { TraceLedgerError } from './errors.js';
import type { TraceEvent } from './events.js';
import { parseMoney } from './money.js';
import { TimeErrorCode, parseTimeOrDate, utcMidnight } from './time.js';

/**
 * One line of the price book: what a model costs per million tokens from a date on. Prices are
 * nano-units per million tokens, so a per-token price down to 1e-15 is exact.
 */
export interface PriceEntry {
  /** The price-book version that stated this entry (e.g. "2026-11-01"); versions sort as text. */
  version: string;
  /** Provider this entry is for, or null for any provider. */
  provider: string | null;
  /** Exact model name, or a prefix ending in "*" ("gpt-4o*"). */
  model: string;
  effectiveFromMs: number;
  inputPerMillion: bigint;
  outputPerMillion: bigint;
  cachedInputPerMillion: bigint;
  reasoningPerMillion: bigint;
}

/** What an event is billed at. */
export interface PricedCost {
  costNanos: bigint;
  /** `reported`: the producer's own cost; `book`: tokens times a price-book entry. */
  source: 'reported' | 'book';
  /** The price-book version used (null for a reported cost). */
  priceVersion: string | null;
}

/** Prices events from a price book (pure; built once from the entries). */
export class PriceBook {
  private readonly entries: readonly PriceEntry[];

  constructor(entries: readonly PriceEntry[]) {
    // For the same (provider, model, effective date), the later version restates the price.
    const byKey = new Map<string, PriceEntry>();
    for (const e of [...entries].sort((a, b) => cmp(a.version, b.version))) {
      byKey.set(`${e.provider ?? '*'}\u0000${e.model}\u0000${e.effectiveFromMs}`, e);
    }
    this.entries = [...byKey.values()];
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The entry in force for a model at a time: among entries matching the provider (or any) and
   * the model (exact, or the longest matching prefix), effective at or before `atMs`, the most
   * specific wins (exact over prefix, longer prefix over shorter, named provider over any), then
   * the latest effective date. Null when none matches: the event is unpriced, never $0.
   */
  find(provider: string | null, model: string | null, atMs: number): PriceEntry | null {
    if (model === null) return null;
    let best: PriceEntry | null = null;
    let bestRank: number[] = [];
    for (const e of this.entries) {
      if (e.effectiveFromMs > atMs) continue;
      if (e.provider !== null && e.provider !== provider) continue;
      const prefix = e.model.endsWith('*') ? e.model.slice(0, -1) : null;
      if (prefix === null ? e.model !== model : !model.startsWith(prefix)) continue;
      const rank = [prefix === null ? 1 : 0, prefix === null ? 0 : prefix.length, e.provider === null ? 0 : 1, e.effectiveFromMs];
      if (best === null || compareRanks(rank, bestRank) > 0) {
        best = e;
        bestRank = rank;
      }
    }
    return best;
  }

  /**
   * What an `llm.usage` event is billed at: the producer's reported cost when present, else its
   * tokens times the price in force at the event's time. Null when neither exists (unpriced).
   */
  price(event: TraceEvent): PricedCost | null {
    if (event.costNanos !== null) return { costNanos: event.costNanos, source: 'reported', priceVersion: null };
    const entry = this.find(event.provider, event.model, event.occurredAtMs);
    if (entry === null) return null;
    return { costNanos: costOf(entry, event), source: 'book', priceVersion: entry.version };
  }
}

/**
 * Tokens times per-million prices, in nano-units, rounded half up once per event (the only
 * rounding anywhere in traceledger). `input_tokens` excludes cached input and `output_tokens`
 * excludes reasoning tokens: each kind is billed at its own price.
 */
export function costOf(
  entry: Pick<PriceEntry, 'inputPerMillion' | 'outputPerMillion' | 'cachedInputPerMillion' | 'reasoningPerMillion'>,
  tokens: Pick<TraceEvent, 'inputTokens' | 'outputTokens' | 'cachedInputTokens' | 'reasoningTokens'>,
): bigint {
  const micro =
    BigInt(tokens.inputTokens) * entry.inputPerMillion +
    BigInt(tokens.outputTokens) * entry.outputPerMillion +
    BigInt(tokens.cachedInputTokens) * entry.cachedInputPerMillion +
    BigInt(tokens.reasoningTokens) * entry.reasoningPerMillion;
  return (micro + 500_000n) / 1_000_000n;
}

/** The price-book file format (prices/*.json). */
export interface PriceBookFile {
  version: string;
  currency?: string;
  note?: string;
  prices: {
    provider?: string | null;
    model: string;
    effectiveFrom: string;
    inputPerMillion: string;
    outputPerMillion: string;
    cachedInputPerMillion?: string;
    reasoningPerMillion?: string;
  }[];
}

/**
 * Parses a price-book file. Cached input defaults to the input price and reasoning to the output
 * price. Throws TL_PRICES_INVALID naming the file, the entry's index and the field.
 */
export function parsePriceBookFile(json: unknown, fileName: string): PriceEntry[] {
  const bad = (msg: string, cause?: unknown): never => {
    throw new TraceLedgerError('TL_PRICES_INVALID', `${fileName}: ${msg}`, cause === undefined ? {} : { cause });
  };
  if (typeof json !== 'object' || json === null) return bad('not a JSON object');
  const file = json as Partial<PriceBookFile>;
  if (typeof file.version !== 'string' || !/^[\w.-]{1,64}$/.test(file.version)) return bad('"version" must be a short string like "2026-11-01"');
  if (!Array.isArray(file.prices)) return bad('"prices" must be an array');
  const version = file.version;
  return file.prices.map((p, i) => {
    const where = `prices[${i}]`;
    if (typeof p !== 'object' || p === null) return bad(`${where} must be an object`);
    if (p.provider !== undefined && p.provider !== null && (typeof p.provider !== 'string' || p.provider === '' || p.provider === '*')) {
      bad(`${where}.provider must be a provider name, or omitted for any provider`);
    }
    if (typeof p.model !== 'string' || p.model === '' || p.model === '*') bad(`${where}.model must be a model name or a prefix like "gpt-4o*"`);
    let from: number;
    try {
      from = parseEffectiveFrom(p.effectiveFrom);
    } catch (err) {
      return bad(`${where}.effectiveFrom must be a date like "2024-05-13" or a time with a zone like "2024-05-13T12:00:00Z" (${(err as Error).message})`, err);
    }
    const money = (field: keyof PriceBookFile['prices'][number], fallback?: string): bigint => {
      const v = (p[field] as string | undefined) ?? fallback;
      if (typeof v !== 'string') return bad(`${where}.${field} must be a decimal string like "2.50"`);
      let n: bigint;
      try {
        n = parseMoney(v);
      } catch (err) {
        return bad(`${where}.${field}: ${(err as Error).message}`, err);
      }
      if (n < 0n) bad(`${where}.${field} must not be negative`);
      return n;
    };
    const input = money('inputPerMillion');
    const output = money('outputPerMillion');
    return {
      version,
      provider: p.provider ?? null,
      model: p.model,
      effectiveFromMs: from,
      inputPerMillion: input,
      outputPerMillion: output,
      cachedInputPerMillion: money('cachedInputPerMillion', p.inputPerMillion),
      reasoningPerMillion: money('reasoningPerMillion', p.outputPerMillion),
    };
  });
}

// A date means UTC midnight; a time needs a zone. Either must name a real day: a price change read
// in the server's zone, or rolled over from 30 February into March, would move where prices apply.
function parseEffectiveFrom(value: unknown): number {
  if (typeof value !== 'string') throw new TraceLedgerError(TimeErrorCode.BadFormat, value === undefined ? 'it is missing' : 'it is not a string');
  return parseTimeOrDate(value, utcMidnight);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
