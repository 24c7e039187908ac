import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceLedgerError } from './errors.js';
import { EMPTY_EVENT_FIELDS, type TraceEvent } from './events.js';
import { parseMoney } from './money.js';
import { PriceBook, costOf, parsePriceBookFile, type PriceEntry } from './pricing.js';

const DAY_MS = 86_400_000;
const T0 = Date.UTC(2025, 5, 1);
const M = 1_000_000n; // nano-units per million tokens of a price of 0.001

/** A price-book entry effective at T0 for any provider; `over` sets what the test cares about. */
function entry(over: Partial<PriceEntry> & Pick<PriceEntry, 'model'>): PriceEntry {
  return {
    version: '2025-06-01',
    provider: null,
    effectiveFromMs: T0,
    inputPerMillion: 1000n * M,
    outputPerMillion: 2000n * M,
    cachedInputPerMillion: 500n * M,
    reasoningPerMillion: 3000n * M,
    ...over,
  };
}

/** An `llm.usage` event with no reported cost and no tokens; `over` sets what the test cares about. */
function usage(over: Partial<TraceEvent> = {}): TraceEvent {
  return {
    ...EMPTY_EVENT_FIELDS,
    eventId: 'evt-1',
    tenantId: 'tenant-a',
    sessionId: 'session-1',
    type: 'llm.usage',
    occurredAtMs: T0 + DAY_MS,
    provider: 'openai',
    model: 'gpt-4o-mini',
    ...over,
  };
}

const noTokens = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0 };

/** Every ordering of `items` (used on books of at most four entries). */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** The model of the entry a book built from `entries` (in every order) picks; asserts all orders agree. */
function pickedModel(entries: readonly PriceEntry[], provider: string | null, model: string | null, atMs: number): string | null {
  const picks = new Set(permutations(entries).map((order) => new PriceBook(order).find(provider, model, atMs)?.model ?? null));
  expect(picks.size, `the pick for ${String(model)} depends on input order`).toBe(1);
  return [...picks][0] ?? null;
}

describe('PriceBook.find', () => {
  const gpt4o = entry({ provider: 'openai', model: 'gpt-4o*' });
  const mini = entry({ provider: 'openai', model: 'gpt-4o-mini*' });
  const exact = entry({ provider: 'openai', model: 'gpt-4o-mini' });

  it('prefers an exact model over any prefix, and the longer prefix over the shorter', () => {
    const book = [gpt4o, mini, exact];
    expect(pickedModel(book, 'openai', 'gpt-4o-mini', T0)).toBe('gpt-4o-mini');
    expect(pickedModel(book, 'openai', 'gpt-4o-mini-2024-07-18', T0)).toBe('gpt-4o-mini*');
    expect(pickedModel(book, 'openai', 'gpt-4o-2024-08-06', T0)).toBe('gpt-4o*');
    // A prefix matches the bare name it is a prefix of.
    expect(pickedModel(book, 'openai', 'gpt-4o', T0)).toBe('gpt-4o*');
    // Without the exact entry, the longer prefix wins.
    expect(pickedModel([gpt4o, mini], 'openai', 'gpt-4o-mini', T0)).toBe('gpt-4o-mini*');
  });

  it('ranks specificity before recency: a newer, less specific entry does not shadow an older, more specific one', () => {
    const newerShort = { ...gpt4o, effectiveFromMs: T0 + 30 * DAY_MS };
    const olderExact = { ...exact, effectiveFromMs: T0 - 300 * DAY_MS };
    const olderMini = { ...mini, effectiveFromMs: T0 - 200 * DAY_MS };
    const at = T0 + 60 * DAY_MS;
    expect(pickedModel([newerShort, olderMini], 'openai', 'gpt-4o-mini', at)).toBe('gpt-4o-mini*');
    expect(pickedModel([newerShort, olderMini, olderExact], 'openai', 'gpt-4o-mini', at)).toBe('gpt-4o-mini');
  });

  it('prefers an entry for the named provider over one for any provider', () => {
    const anyProvider = entry({ provider: null, model: 'gpt-4o*', inputPerMillion: 1n });
    const openai = entry({ provider: 'openai', model: 'gpt-4o*', inputPerMillion: 2n });
    for (const order of permutations([anyProvider, openai])) {
      const book = new PriceBook(order);
      expect(book.find('openai', 'gpt-4o', T0)).toBe(openai);
      // Any other provider, or none, falls back to the provider-less entry.
      expect(book.find('azure', 'gpt-4o', T0)).toBe(anyProvider);
      expect(book.find(null, 'gpt-4o', T0)).toBe(anyProvider);
    }
    // The model is ranked first: an exact name for any provider beats a prefix for the named one.
    const anyExact = entry({ provider: null, model: 'gpt-4o-mini' });
    expect(pickedModel([openai, anyExact], 'openai', 'gpt-4o-mini', T0)).toBe('gpt-4o-mini');
  });

  it('never uses an entry stated for a different provider', () => {
    const book = new PriceBook([entry({ provider: 'openai', model: 'gpt-4o-mini' }), entry({ provider: 'openai', model: 'gpt-4o*' })]);
    expect(book.find('openai', 'gpt-4o-mini', T0)).not.toBeNull();
    expect(book.find('azure', 'gpt-4o-mini', T0)).toBeNull();
    expect(book.find('OpenAI', 'gpt-4o-mini', T0)).toBeNull();
    expect(book.find(null, 'gpt-4o-mini', T0)).toBeNull();
  });

  it('applies the older price before the change date and the newer one from it on (boundary inclusive)', () => {
    const changeMs = Date.UTC(2024, 9, 1);
    const before = entry({ provider: 'openai', model: 'gpt-4o*', effectiveFromMs: Date.UTC(2024, 4, 13), inputPerMillion: 5000n * M });
    const after = entry({ provider: 'openai', model: 'gpt-4o*', effectiveFromMs: changeMs, inputPerMillion: 2500n * M });
    for (const order of permutations([before, after])) {
      const book = new PriceBook(order);
      expect(book.size).toBe(2);
      expect(book.find('openai', 'gpt-4o', before.effectiveFromMs - 1)).toBeNull();
      expect(book.find('openai', 'gpt-4o', before.effectiveFromMs)).toBe(before);
      expect(book.find('openai', 'gpt-4o', changeMs - 1)).toBe(before);
      expect(book.find('openai', 'gpt-4o', changeMs)).toBe(after);
      expect(book.find('openai', 'gpt-4o', changeMs + 1)).toBe(after);
      expect(book.find('openai', 'gpt-4o', changeMs + 3650 * DAY_MS)).toBe(after);
    }
  });

  it('does not use a more specific entry before its effective date', () => {
    const book = new PriceBook([gpt4o, { ...mini, effectiveFromMs: T0 + DAY_MS }]);
    expect(book.find('openai', 'gpt-4o-mini', T0)).toBe(gpt4o);
    expect(book.find('openai', 'gpt-4o-mini', T0 + DAY_MS)?.model).toBe('gpt-4o-mini*');
  });

  it('finds nothing for no model or an unknown model', () => {
    const book = new PriceBook([gpt4o, mini, exact, entry({ model: 'claude-*' })]);
    expect(book.find('openai', null, T0)).toBeNull();
    expect(book.find(null, null, T0)).toBeNull();
    expect(book.find('openai', 'o3-mini', T0)).toBeNull();
    expect(book.find('openai', 'gpt-4', T0)).toBeNull(); // shorter than the "gpt-4o" prefix
    expect(book.find('openai', '', T0)).toBeNull();
    expect(book.find('openai', 'GPT-4o', T0)).toBeNull(); // names are case-sensitive
    expect(new PriceBook([]).find('openai', 'gpt-4o', T0)).toBeNull();
  });
});

describe('PriceBook restated prices', () => {
  it('takes the later version for the same provider, model and effective date, in any input order', () => {
    const v1 = entry({ version: '2025-01-01', provider: 'openai', model: 'gpt-4o*', inputPerMillion: 5000n * M });
    const v2 = entry({ version: '2025-06-01', provider: 'openai', model: 'gpt-4o*', inputPerMillion: 2500n * M });
    const v3 = entry({ version: '2025-11-01', provider: 'openai', model: 'gpt-4o*', inputPerMillion: 2000n * M });
    for (const order of permutations([v1, v2, v3])) {
      const book = new PriceBook(order);
      expect(book.size).toBe(1);
      expect(book.find('openai', 'gpt-4o', T0)).toBe(v3);
      expect(book.price(usage({ model: 'gpt-4o', inputTokens: 1_000_000 }))).toEqual({ costNanos: 2000n * M, source: 'book', priceVersion: '2025-11-01' });
    }
  });

  it('restates only the same key: another provider or effective date is a separate entry', () => {
    const old = entry({ version: '2025-01-01', provider: 'openai', model: 'gpt-4o*', effectiveFromMs: T0 });
    const laterDate = entry({ version: '2025-06-01', provider: 'openai', model: 'gpt-4o*', effectiveFromMs: T0 + DAY_MS });
    const anyProvider = entry({ version: '2025-06-01', provider: null, model: 'gpt-4o*', effectiveFromMs: T0 });
    const book = new PriceBook([laterDate, anyProvider, old]);
    expect(book.size).toBe(3);
    expect(book.find('openai', 'gpt-4o', T0)).toBe(old);
    expect(book.find('openai', 'gpt-4o', T0 + DAY_MS)).toBe(laterDate);
    expect(book.find('azure', 'gpt-4o', T0)).toBe(anyProvider);
  });

  it('always lets the greatest version win, whatever the versions and their order', () => {
    const versionArb = fc.stringMatching(/^20\d\d-[01]\d-[0-3]\d$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(versionArb, { minLength: 1, maxLength: 8 }).chain((versions) =>
          fc.tuple(fc.constant(versions), fc.shuffledSubarray(versions, { minLength: versions.length, maxLength: versions.length })),
        ),
        ([versions, order]) => {
          const latest = [...versions].sort().at(-1);
          const book = new PriceBook(order.map((version, i) => entry({ version, model: 'm*', inputPerMillion: BigInt(i) })));
          expect(book.size).toBe(1);
          expect(book.find('p', 'm', T0)?.version).toBe(latest);
        },
      ),
    );
  });
});

describe('PriceBook.price', () => {
  const book = new PriceBook([
    entry({ version: '2024-10-01', provider: 'openai', model: 'gpt-4o-mini*', inputPerMillion: 150n * M, outputPerMillion: 600n * M }),
  ]);

  it('bills a reported cost as is, even when the book has a price for the model', () => {
    const event = usage({ costNanos: 123_456_789n, inputTokens: 1_000_000, outputTokens: 1_000_000 });
    expect(book.find(event.provider, event.model, event.occurredAtMs)).not.toBeNull();
    expect(book.price(event)).toEqual({ costNanos: 123_456_789n, source: 'reported', priceVersion: null });
    // A reported zero is a cost, not a missing one.
    expect(book.price({ ...event, costNanos: 0n })).toEqual({ costNanos: 0n, source: 'reported', priceVersion: null });
    // A reported cost needs no model.
    expect(book.price({ ...event, model: null })).toEqual({ costNanos: 123_456_789n, source: 'reported', priceVersion: null });
  });

  it('otherwise bills tokens times the book entry and records its version', () => {
    const event = usage({ inputTokens: 2_000_000, outputTokens: 500_000 });
    // 2M × 0.15 + 0.5M × 0.60 = 0.60
    expect(book.price(event)).toEqual({ costNanos: 600_000_000n, source: 'book', priceVersion: '2024-10-01' });
    expect(book.price({ ...event, inputTokens: 0, outputTokens: 0 })).toEqual({ costNanos: 0n, source: 'book', priceVersion: '2024-10-01' });
  });

  it('looks the price up at the event time and for the event provider', () => {
    const changing = new PriceBook([
      entry({ version: '2025-06-01', model: 'm', effectiveFromMs: T0, inputPerMillion: 1000n * M }),
      entry({ version: '2025-06-01', model: 'm', effectiveFromMs: T0 + DAY_MS, inputPerMillion: 3000n * M }),
    ]);
    const tokens = { model: 'm', inputTokens: 1_000_000 };
    expect(changing.price(usage({ ...tokens, occurredAtMs: T0 + DAY_MS - 1 }))?.costNanos).toBe(1000n * M);
    expect(changing.price(usage({ ...tokens, occurredAtMs: T0 + DAY_MS }))?.costNanos).toBe(3000n * M);
    expect(changing.price(usage({ ...tokens, occurredAtMs: T0 - 1 }))).toBeNull();
    expect(book.price(usage({ provider: 'anthropic', inputTokens: 1 }))).toBeNull();
  });

  it('leaves an unknown model or a missing model unpriced (null, never 0)', () => {
    expect(book.price(usage({ model: 'llama-3-70b', inputTokens: 1000 }))).toBeNull();
    expect(book.price(usage({ model: null, inputTokens: 1000 }))).toBeNull();
    expect(new PriceBook([]).price(usage({ inputTokens: 1000 }))).toBeNull();
  });
});

describe('costOf', () => {
  const prices = {
    inputPerMillion: parseMoney('1.1'),
    outputPerMillion: parseMoney('2.2'),
    cachedInputPerMillion: parseMoney('0.33'),
    reasoningPerMillion: parseMoney('4.444'),
  };

  it('bills each token kind at its own price', () => {
    const million = 1_000_000;
    expect(costOf(prices, { ...noTokens, inputTokens: million })).toBe(1_100_000_000n);
    expect(costOf(prices, { ...noTokens, outputTokens: million })).toBe(2_200_000_000n);
    expect(costOf(prices, { ...noTokens, cachedInputTokens: million })).toBe(330_000_000n);
    expect(costOf(prices, { ...noTokens, reasoningTokens: million })).toBe(4_444_000_000n);
    // Input excludes cached and output excludes reasoning: the four kinds add, none is counted twice.
    expect(costOf(prices, { inputTokens: million, outputTokens: million, cachedInputTokens: million, reasoningTokens: million })).toBe(8_074_000_000n);
    expect(costOf(prices, noTokens)).toBe(0n);
  });

  it('is exact beyond the range of a float', () => {
    const big = { ...prices, inputPerMillion: parseMoney('75.123456789') };
    const tokens = 9_007_199_254_740_991; // 2^53 - 1
    // 75.123456789 per million × (2^53 − 1) tokens = 676,651,944,003,447,840,775.537899 nanos.
    expect(costOf(big, { ...noTokens, inputTokens: tokens })).toBe(676_651_944_003_447_840_776n);
    expect(costOf(big, { ...noTokens, inputTokens: 1_000_000_000_000 })).toBe(75_123_456_789_000_000n);
  });

  it('rounds half up to the nano', () => {
    const per = (price: string) => ({ ...prices, inputPerMillion: parseMoney(price) });
    expect(costOf(per('0.0375'), { ...noTokens, inputTokens: 1 })).toBe(38n); // 37.5
    expect(costOf(per('0.0001'), { ...noTokens, inputTokens: 3 })).toBe(0n); // 0.3
    expect(costOf(per('0.0025'), { ...noTokens, inputTokens: 1 })).toBe(3n); // 2.5 (not to even)
    expect(costOf(per('0.0035'), { ...noTokens, inputTokens: 1 })).toBe(4n); // 3.5
    expect(costOf(per('0.000499999'), { ...noTokens, inputTokens: 1 })).toBe(0n); // 0.499999
    expect(costOf(per('0.0005'), { ...noTokens, inputTokens: 1 })).toBe(1n); // 0.5
    expect(costOf(per('0.000000001'), { ...noTokens, inputTokens: 499_999 })).toBe(0n); // 0.499999
    expect(costOf(per('0.000000001'), { ...noTokens, inputTokens: 500_000 })).toBe(1n); // 0.5
  });

  it('rounds once per event, not once per token kind', () => {
    const tiny = { inputPerMillion: parseMoney('0.0004'), outputPerMillion: parseMoney('0.0004'), cachedInputPerMillion: parseMoney('0.0004'), reasoningPerMillion: parseMoney('0.0004') };
    // 4 × 0.4 = 1.6 nanos → 2 (rounding each kind would give 0).
    expect(costOf(tiny, { inputTokens: 1, outputTokens: 1, cachedInputTokens: 1, reasoningTokens: 1 })).toBe(2n);
    const half = { ...tiny, inputPerMillion: parseMoney('0.0005'), outputPerMillion: parseMoney('0.0005') };
    // 0.5 + 0.5 = 1 nano (rounding each kind would give 2).
    expect(costOf(half, { ...noTokens, inputTokens: 1, outputTokens: 1 })).toBe(1n);
  });

  it('equals the exact rational cost rounded half up', () => {
    // Per-million prices as decimal text, often small enough that the cost has a fraction of a nano.
    const priceArb = fc.oneof(fc.stringMatching(/^(0|[1-9]\d{0,5})(\.\d{1,9})?$/), fc.stringMatching(/^0\.0{3,6}[1-9]\d{0,2}$/));
    const tokensArb = fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: 10_000_000 }), fc.maxSafeNat());
    fc.assert(
      fc.property(
        fc.record({ input: priceArb, output: priceArb, cached: priceArb, reasoning: priceArb }),
        fc.record({ inputTokens: tokensArb, outputTokens: tokensArb, cachedInputTokens: tokensArb, reasoningTokens: tokensArb }),
        (p, tokens) => {
          const entry = {
            inputPerMillion: parseMoney(p.input),
            outputPerMillion: parseMoney(p.output),
            cachedInputPerMillion: parseMoney(p.cached),
            reasoningPerMillion: parseMoney(p.reasoning),
          };
          const pairs: [number, string][] = [
            [tokens.inputTokens, p.input],
            [tokens.outputTokens, p.output],
            [tokens.cachedInputTokens, p.cached],
            [tokens.reasoningTokens, p.reasoning],
          ];
          expect(costOf(entry, tokens)).toBe(exactNanosHalfUp(pairs));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * The cost in nanos of `tokens × price per million` summed over the pairs, computed from the
 * decimal text: price = digits / 10^decimals currency units, so one term is
 * tokens × digits × 10^9 / (10^decimals × 10^6) nanos. All terms are put over 10^15 and the sum is
 * rounded half up as floor((2n + d) / 2d).
 */
function exactNanosHalfUp(pairs: readonly [number, string][]): bigint {
  const denominator = 10n ** 15n;
  let numerator = 0n;
  for (const [tokens, price] of pairs) {
    const [whole = '', fraction = ''] = price.split('.');
    const digits = BigInt(whole + fraction);
    numerator += BigInt(tokens) * digits * 10n ** 9n * 10n ** BigInt(9 - fraction.length);
  }
  return (2n * numerator + denominator) / (2n * denominator);
}

describe('parsePriceBookFile', () => {
  const FILE = 'prices-test.json';
  const valid = {
    version: '2025-06-01',
    currency: 'USD',
    prices: [
      { provider: 'openai', model: 'o3-mini*', effectiveFrom: '2025-01-31', inputPerMillion: '1.10', outputPerMillion: '4.40', cachedInputPerMillion: '0.55', reasoningPerMillion: '8.8' },
      { model: 'llama-3-70b', effectiveFrom: '2024-04-18', inputPerMillion: '0.59', outputPerMillion: '0.79' },
      { provider: null, model: 'gemini*', effectiveFrom: '2024-12-01T12:00:00Z', inputPerMillion: '0', outputPerMillion: '0.000000001' },
    ],
  };

  it('reads a valid file, defaulting cached input to the input price and reasoning to the output price', () => {
    expect(parsePriceBookFile(valid, FILE)).toEqual([
      {
        version: '2025-06-01',
        provider: 'openai',
        model: 'o3-mini*',
        effectiveFromMs: Date.UTC(2025, 0, 31),
        inputPerMillion: 1_100_000_000n,
        outputPerMillion: 4_400_000_000n,
        cachedInputPerMillion: 550_000_000n,
        reasoningPerMillion: 8_800_000_000n,
      },
      {
        version: '2025-06-01',
        provider: null,
        model: 'llama-3-70b',
        effectiveFromMs: Date.UTC(2024, 3, 18),
        inputPerMillion: 590_000_000n,
        outputPerMillion: 790_000_000n,
        cachedInputPerMillion: 590_000_000n,
        reasoningPerMillion: 790_000_000n,
      },
      {
        version: '2025-06-01',
        provider: null,
        model: 'gemini*',
        effectiveFromMs: Date.UTC(2024, 11, 1, 12),
        inputPerMillion: 0n,
        outputPerMillion: 1n,
        cachedInputPerMillion: 0n,
        reasoningPerMillion: 1n,
      },
    ]);
    expect(parsePriceBookFile({ version: 'v1', prices: [] }, FILE)).toEqual([]);
  });

  /** `valid` with its second price changed (`undefined` removes a field). */
  const withPrice = (change: Record<string, unknown>) => ({
    ...valid,
    prices: valid.prices.map((p, i) => (i === 1 ? Object.fromEntries(Object.entries({ ...p, ...change }).filter(([, v]) => v !== undefined)) : p)),
  });

  const cases: [label: string, json: unknown, field: string][] = [
    ['not an object', null, 'JSON object'],
    ['an array', [], 'version'],
    ['missing version', { prices: valid.prices }, '"version"'],
    ['numeric version', { ...valid, version: 20250601 }, '"version"'],
    ['empty version', { ...valid, version: '' }, '"version"'],
    ['missing prices', { version: valid.version }, '"prices"'],
    ['prices not an array', { ...valid, prices: { model: 'gpt-4o*' } }, '"prices"'],
    ['price not an object', { ...valid, prices: [valid.prices[0], null] }, 'prices[1]'],
    ['missing model', withPrice({ model: undefined }), 'prices[1].model'],
    ['empty model', withPrice({ model: '' }), 'prices[1].model'],
    ['model "*"', withPrice({ model: '*' }), 'prices[1].model'],
    ['numeric model', withPrice({ model: 4 }), 'prices[1].model'],
    ['missing effectiveFrom', withPrice({ effectiveFrom: undefined }), 'prices[1].effectiveFrom'],
    ['unparseable effectiveFrom', withPrice({ effectiveFrom: 'next tuesday' }), 'prices[1].effectiveFrom'],
    ['numeric effectiveFrom', withPrice({ effectiveFrom: 20240418 }), 'prices[1].effectiveFrom'],
    ['impossible day', withPrice({ effectiveFrom: '2025-02-30' }), 'prices[1].effectiveFrom'],
    ['month 13', withPrice({ effectiveFrom: '2025-13-01' }), 'prices[1].effectiveFrom'],
    ['not ISO', withPrice({ effectiveFrom: 'May 13 2024' }), 'prices[1].effectiveFrom'],
    ['a bare number as text', withPrice({ effectiveFrom: '1' }), 'prices[1].effectiveFrom'],
    ['time without a zone', withPrice({ effectiveFrom: '2024-10-01T00:00:00' }), 'prices[1].effectiveFrom'],
    ['negative input price', withPrice({ inputPerMillion: '-0.59' }), 'prices[1].inputPerMillion'],
    ['negative cached price', withPrice({ cachedInputPerMillion: '-0.01' }), 'prices[1].cachedInputPerMillion'],
    ['more than 9 decimals', withPrice({ outputPerMillion: '0.0000000001' }), 'prices[1].outputPerMillion'],
    ['more than 9 decimals (reasoning)', withPrice({ reasoningPerMillion: '1.1234567891' }), 'prices[1].reasoningPerMillion'],
    ['numeric price', withPrice({ inputPerMillion: 0.59 }), 'prices[1].inputPerMillion'],
    ['numeric cached price', withPrice({ cachedInputPerMillion: 0.3 }), 'prices[1].cachedInputPerMillion'],
    ['missing output price', withPrice({ outputPerMillion: undefined }), 'prices[1].outputPerMillion'],
    ['not a decimal', withPrice({ inputPerMillion: '$0.59' }), 'prices[1].inputPerMillion'],
  ];

  it.each(cases)('rejects %s with TL_PRICES_INVALID naming the file and the field', (_label, json, field) => {
    let thrown: unknown;
    try {
      parsePriceBookFile(json, FILE);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TraceLedgerError);
    const err = thrown as TraceLedgerError;
    expect(err.code).toBe('TL_PRICES_INVALID');
    expect(err.message.startsWith(`${FILE}: `)).toBe(true);
    expect(err.message).toContain(field);
    // Named once: the message reads as one sentence, not a wrapped copy of itself.
    expect(err.message.split(FILE)).toHaveLength(2);
  });

  it('says why a price was rejected', () => {
    const message = (json: unknown) => {
      try {
        parsePriceBookFile(json, FILE);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected TL_PRICES_INVALID, nothing was thrown');
    };
    expect(message(withPrice({ inputPerMillion: '-0.59' }))).toBe(`${FILE}: prices[1].inputPerMillion must not be negative`);
    expect(message(withPrice({ outputPerMillion: '0.0000000001' }))).toContain('more than 9 decimals');
    expect(message(withPrice({ inputPerMillion: 0.59 }))).toBe(`${FILE}: prices[1].inputPerMillion must be a decimal string like "2.50"`);
  });
});

describe("the repository's price book", () => {
  const dir = fileURLToPath(new URL('../../../prices/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const parsed = files.map((f) => {
    const json = JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as { version: string; prices: unknown[] };
    return { file: f, json, entries: parsePriceBookFile(json, f) };
  });

  it('parses every entry of every file', () => {
    expect(files.length).toBeGreaterThan(0);
    for (const { file, json, entries } of parsed) {
      expect(entries, file).toHaveLength(json.prices.length);
      expect(file).toBe(`${json.version}.json`);
      for (const e of entries) {
        expect(e.version, file).toBe(json.version);
        expect(Number.isFinite(e.effectiveFromMs), `${file} ${e.model}`).toBe(true);
        for (const price of [e.inputPerMillion, e.outputPerMillion, e.cachedInputPerMillion, e.reasoningPerMillion]) {
          expect(price >= 0n, `${file} ${e.model}`).toBe(true);
        }
      }
    }
  });

  it('prices gpt-4o-mini with the gpt-4o-mini* entry, not gpt-4o*', () => {
    const book = new PriceBook(parsed.flatMap((p) => p.entries));
    const at = Date.UTC(2025, 5, 1);
    const found = book.find('openai', 'gpt-4o-mini', at);
    expect(found?.model).toBe('gpt-4o-mini*');
    expect(found?.inputPerMillion).toBe(parseMoney('0.15'));
    expect(book.find('openai', 'gpt-4o-mini-2024-07-18', at)?.model).toBe('gpt-4o-mini*');
    expect(book.find('openai', 'gpt-4o', at)?.model).toBe('gpt-4o*');
    expect(book.price(usage({ provider: 'openai', model: 'gpt-4o-mini', occurredAtMs: at, inputTokens: 1_000_000, cachedInputTokens: 1_000_000 }))).toEqual({
      costNanos: parseMoney('0.225'),
      source: 'book',
      priceVersion: found?.version,
    });
  });
});
