import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '@traceledger/auth';
import { traceEvent, type TraceEvent } from '@traceledger/core';
import { applyEvents } from '@traceledger/db';
import { registerCleanup } from './helpers/cleanup.js';
import { freePort } from './helpers/faults/ports.js';
import { ROOT, spawnService, type LogLine } from './helpers/faults/processes.js';
import { createTestDatabase, uid } from './helpers/world.js';

// The dashboard at `/` of the query service, in Debian's Chromium (headless, driven by
// playwright-core; no browser download): the key prompt, then totals that equal the API's to the
// digit. A screenshot is kept in .cache/ as the test's artifact. .ci/run installs Chromium; on a
// machine without /usr/bin/chromium (or CHROMIUM_PATH) this one test is skipped, and says so.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

/** Sessions over the last days: costs with nine decimals (exact sums matter), one unpriced model. */
function worldEvents(tenantId: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  const now = Date.now();
  const agents = ['planner', 'researcher', 'writer'];
  for (let i = 0; i < 24; i++) {
    const sessionId = `s-${uid(3)}-${i}`;
    const at = now - (i % 6) * 86_400_000 - 3_600_000 - i * 60_000;
    const base = { tenantId, sessionId, agentId: agents[i % 3] as string, teamId: i % 4 === 0 ? null : `team-${i % 2}` };
    events.push(traceEvent({ ...base, eventId: `${sessionId}-start`, type: 'session.started', occurredAtMs: at }));
    events.push(
      traceEvent({
        ...base,
        eventId: `${sessionId}-u`,
        type: 'llm.usage',
        occurredAtMs: at + 1000,
        provider: 'openai',
        model: i % 5 === 0 ? 'in-house-unpriced' : 'gpt-4o',
        inputTokens: 1000 + i * 37,
        outputTokens: 100 + i * 11,
        costNanos: i % 5 === 0 ? null : BigInt(123_456_789 + i * 1_000_000_007),
      }),
    );
    events.push(traceEvent({ ...base, eventId: `${sessionId}-end`, type: 'session.ended', occurredAtMs: at + 5000, status: i % 7 === 0 ? 'error' : 'success' }));
  }
  return events;
}

describe('the dashboard page', () => {
  it.runIf(existsSync(CHROMIUM))('asks for the key once, then shows the totals of /api/billing/summary to the digit', async () => {
    const { url, pool } = await createTestDatabase();
    const tenantId = `dash-${uid()}`;
    await applyEvents(pool, worldEvents(tenantId).map((event) => ({ event })));
    const key = await createApiKey(pool, { tenantId, scopes: ['query'] });
    const port = await freePort();
    const query = spawnService('query', { DATABASE_URL: url, QUERY_PORT: String(port) });
    await query.waitForLog(listening, { timeoutMs: 45_000, what: 'query listening' });
    const base = `http://127.0.0.1:${port}`;

    // What the API says, as text: the digits are compared, never floats.
    const raw = async (path: string) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key.key}` } })).text();
    const summary = await raw('/api/billing/summary?period=30d&tz=UTC');
    const totalCost = /"totalCost":([0-9.]+)/.exec(summary)?.[1];
    const totalTokens = /"totalTokens":([0-9]+)/.exec(summary)?.[1];
    const platform = await raw('/api/analytics/platform?period=30d&tz=UTC');
    const sessions = /"totalSessions":([0-9]+)/.exec(platform)?.[1];
    const unpricedTokens = /"unpricedTokens":([0-9]+)/.exec(platform)?.[1];
    const from = /"from":"([^"]+)"/.exec(platform)?.[1] ?? 'missing';
    expect(totalCost).toMatch(/^\d+\.\d{9}$/);
    expect(Number(unpricedTokens)).toBeGreaterThan(0);

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    registerCleanup(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);

    // No key yet: the prompt. A wrong key is refused with the API's code, and the prompt stays.
    await page.locator('#key-dialog[open]').waitFor();
    await page.fill('#key', 'tl_wrong_key');
    await page.click('#key-submit');
    await page.locator('#key-error').filter({ hasText: 'TL_AUTH_' }).waitFor();
    await page.fill('#key', key.key);
    await page.click('#key-submit');
    await page.locator('body[data-loaded]').waitFor({ state: 'attached' });

    const text = async (id: string) => (await page.locator(`#${id}`).textContent())?.trim();
    expect(await text('total-cost')).toBe(`$${totalCost}`);
    expect((await text('total-tokens'))?.replace(/,/g, '')).toBe(totalTokens);
    expect((await text('total-sessions'))?.replace(/,/g, '')).toBe(sessions);
    expect(await text('unpriced')).toContain(Number(unpricedTokens).toLocaleString('en-US'));
    expect(await page.locator('#unpriced-card.flagged').count()).toBe(1);
    expect(await page.locator('#top-agent tbody tr').count()).toBe(3);
    expect(await page.locator('#cost-chart canvas').count()).toBe(1);

    // The key is kept for the session: a reload goes straight to the numbers.
    await page.reload();
    await page.locator('body[data-loaded]').waitFor({ state: 'attached' });
    expect(await page.locator('#key-dialog[open]').count()).toBe(0);
    expect(await text('total-cost')).toBe(`$${totalCost}`);

    // Another period re-reads the API: all time equals the API's all-time total too.
    const allTime = /"totalCost":([0-9.]+)/.exec(await raw('/api/billing/summary?period=all&tz=UTC'))?.[1];
    await page.selectOption('#period', 'all');
    await expect.poll(() => text('total-cost'), { timeout: 15_000 }).toBe(`$${allTime}`);

    await page.selectOption('#period', '30d');
    await expect.poll(() => text('total-cost'), { timeout: 15_000 }).toBe(`$${totalCost}`);
    // Whichever answer came last, the page shows the period picked last (30 days, not all time,
    // which starts at "the beginning"). The 30 days roll with the clock, so the page's start may be
    // a minute or so later than the one the API gave the test before.
    const labelStart = async (): Promise<number | null> => {
      const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) → /.exec((await text('range-label')) ?? '');
      return m ? Date.parse(`${m[1]}T${m[2]}:00Z`) : null;
    };
    await expect.poll(async () => {
      const start = await labelStart();
      return start !== null && start >= Date.parse(from) - 60_000 && start <= Date.parse(from) + 5 * 60_000;
    }, { timeout: 15_000 }).toBe(true);
    await mkdir(join(ROOT, '.cache'), { recursive: true });
    await page.screenshot({ path: join(ROOT, '.cache/dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
