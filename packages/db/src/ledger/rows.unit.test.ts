import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModelUsage, SessionState } from '@traceledger/core';
import { exactJson, modelsJson, stateToRow } from './rows.js';

const big = fc.bigInt({ min: 0n, max: 10n ** 20n });
const usage: fc.Arbitrary<ModelUsage> = fc.record({
  inputTokens: big,
  outputTokens: big,
  cachedInputTokens: big,
  reasoningTokens: big,
  costNanos: big,
  events: fc.nat(),
  unpricedEvents: fc.nat(),
  unpricedTokens: big,
});

describe('modelsJson', () => {
  it('writes exactly the JSON of stateToRow(...).models, digits and names included', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), usage, { maxKeys: 5 }), (models) => {
        const state = { models } as unknown as SessionState;
        expect(modelsJson(models)).toBe(exactJson(stateToRow({ ...emptyish, ...state }).models));
      }),
    );
  });
});

const emptyish = {
  tenantId: 't', sessionId: 's', agentId: null, agentKey: null, teamId: null, teamKey: null, startedAtMs: null, firstEventAtMs: 0, lastEventAtMs: 0,
  end: null, inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 0n, reasoningTokens: 0n, costNanos: 0n, unpricedEvents: 0, unpricedTokens: 0n,
  priceVersion: null, toolCalls: 0, eventCount: 0,
};
