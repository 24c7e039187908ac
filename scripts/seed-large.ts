/**
 * Fills trace_sessions with a large, realistic year of sessions for benchmarks:
 *
 *   npm run seed:large -- --sessions 10000000 [--database-url URL] [--tenants 20] [--agents 1000]
 *                         [--teams 50] [--days 365] [--chunk 250000] [--until ISO] [--seed 1] [--reset]
 *
 * Rows are generated inside Postgres (INSERT ... SELECT over generate_series) from hashes of the
 * row number, so the same arguments and the same --until give the same data. Session starts are
 * laid out in time order (as a live pipeline would write them) with growth over the period,
 * weekly and daily seasonality and a holiday dip; each hour receives an exact share of the rows,
 * computed here. Every INSERT fires the statement-level rollup triggers, so rows go in chunks
 * that keep the transition tables small.
 *
 * The seeded sessions have no applied_events behind them: they are for reading, not for replay.
 */
import { parseArgs } from 'node:util';
import { createPool, migrate, type PoolClient } from '@traceledger/db';
import { TraceLedgerError } from '@traceledger/core';
import { seededRandom } from '@traceledger/core';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/traceledger_large';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The price-book version written on rows with at least one priced model (prices/2025-06-01.json). */
const PRICE_VERSION = '2025-06-01';
/** Most models one seeded session uses. */
const MAX_MODELS_PER_SESSION = 3;

interface SeedOptions {
  databaseUrl: string;
  sessions: number;
  tenants: number;
  agents: number;
  teams: number;
  days: number;
  chunkRows: number;
  /** End of the seeded period (exclusive); sessions start in [until - days, until). */
  until: Date;
  seed: number;
  reset: boolean;
}

function parseOptions(argv: string[]): SeedOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string', default: '1000000' },
      'database-url': { type: 'string' },
      tenants: { type: 'string', default: '20' },
      agents: { type: 'string', default: '1000' },
      teams: { type: 'string', default: '50' },
      days: { type: 'string', default: '365' },
      chunk: { type: 'string', default: '250000' },
      until: { type: 'string' },
      seed: { type: 'string', default: '1' },
      reset: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, text: string | undefined, min: number, max: number): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text ?? '') || n < min || n > max) {
      throw new TraceLedgerError('TL_SEED_BAD_OPTION', `--${name} must be a whole number from ${min} to ${max}, got "${text ?? ''}"`);
    }
    return n;
  };
  const options: SeedOptions = {
    databaseUrl: values['database-url'] ?? process.env['DATABASE_URL'] ?? DEFAULT_URL,
    sessions: int('sessions', values.sessions, 1, 1_000_000_000),
    tenants: int('tenants', values.tenants, 1, 9_999),
    agents: int('agents', values.agents, 1, 9_999_999),
    teams: int('teams', values.teams, 1, 999_999),
    days: int('days', values.days, 1, 3_650),
    chunkRows: int('chunk', values.chunk, 1_000, 2_000_000),
    until: values.until === undefined ? new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS) : new Date(values.until),
    seed: int('seed', values.seed, 0, 1_000_000),
    reset: values.reset ?? false,
  };
  if (Number.isNaN(options.until.getTime())) {
    throw new TraceLedgerError('TL_SEED_BAD_OPTION', `--until must be an ISO timestamp, got "${values.until ?? ''}"`);
  }
  if (options.teams < options.tenants || options.agents < options.teams) {
    throw new TraceLedgerError(
      'TL_SEED_BAD_OPTION',
      `every tenant needs a team and every team an agent: need --tenants (${options.tenants}) <= --teams (${options.teams}) <= --agents (${options.agents})`,
    );
  }
  return options;
}

/** A model of the catalogue; prices are in nano-units per token (= currency units per million tokens x 1000). */
interface SeedModel {
  name: string;
  input: number;
  output: number;
  cached: number;
  reasoning: number;
  /** False for models no price exists for: their usage is recorded as unpriced. */
  priced: boolean;
  /** Whether the model bills reasoning tokens (those sessions report some). */
  reasons: boolean;
}

/** Popular models first: a session picks a model by a Zipf-like draw over this order. */
function modelCatalogue(): SeedModel[] {
  // [name, input, output, cached, reasoning] per million tokens, at most 3 decimals so each
  // per-token price is a whole number of nano-units; null: no price.
  const head: [string, number, number, number, number | null][] = [
    ['gpt-4o-mini', 0.15, 0.6, 0.075, null],
    ['claude-3-5-sonnet-20241022', 3, 15, 0.3, null],
    ['gpt-4o', 2.5, 10, 1.25, null],
    ['gpt-4.1-mini', 0.4, 1.6, 0.1, null],
    ['claude-3-5-haiku-20241022', 0.8, 4, 0.08, null],
    ['gemini-2.0-flash', 0.1, 0.4, 0.025, null],
    ['gpt-4.1', 2, 8, 0.5, null],
    ['claude-3-7-sonnet-20250219', 3, 15, 0.3, 15],
    ['o3-mini', 1.1, 4.4, 0.55, 4.4],
    ['gemini-1.5-pro', 1.25, 5, 0.313, null],
    ['text-embedding-3-small', 0.02, 0, 0, null],
    ['gpt-4.1-nano', 0.1, 0.4, 0.025, null],
    ['o1', 15, 60, 7.5, 60],
    ['claude-3-opus-20240229', 15, 75, 1.5, null],
    ['mistral-large-2411', 2, 6, 0, null],
    ['llama-3.1-70b-instruct', 0.88, 0.88, 0, null],
    ['deepseek-chat', 0.27, 1.1, 0.07, null],
    ['(unknown)', -1, -1, -1, null],
    ['gemini-1.5-flash', 0.075, 0.3, 0.019, null],
    ['deepseek-reasoner', 0.55, 2.19, 0.14, 2.19],
    ['o4-mini', 1.1, 4.4, 0.275, 4.4],
    ['command-r-plus', 2.5, 10, 0, null],
    ['mistral-small-2501', 0.1, 0.3, 0, null],
    ['llama-3.1-8b-instruct', 0.18, 0.18, 0, null],
    ['qwen2.5-72b-instruct', 0.9, 0.9, 0, null],
    ['gpt-3.5-turbo-0125', 0.5, 1.5, 0, null],
    ['text-embedding-3-large', 0.13, 0, 0, null],
    ['claude-3-haiku-20240307', 0.25, 1.25, 0.03, null],
    ['codestral-2501', 0.3, 0.9, 0, null],
    ['grok-2-1212', 2, 10, 0, null],
  ];
  const models: SeedModel[] = head.map(([name, input, output, cached, reasoning]) => ({
    name,
    input: Math.round(input * 1000),
    output: Math.round(output * 1000),
    cached: Math.round(cached * 1000),
    reasoning: reasoning === null ? 0 : Math.round(reasoning * 1000),
    priced: input >= 0,
    reasons: reasoning !== null,
  }));
  // The long tail: fine-tunes, cloud deployments, self-hosted and routed models. Self-hosted
  // and routed ones have no price.
  const random = seededRandom(0x5eed);
  const families = [
    (n: number) => `ft:gpt-4o-mini-2024-07-18:org-${n}::${(n * 2_654_435_761 >>> 0).toString(36)}`,
    (n: number) => `azure/gpt-4o-${['eastus', 'westeurope', 'japaneast', 'swedencentral'][n % 4]}-${n}`,
    (n: number) => `bedrock/anthropic.claude-3-haiku-v${n}`,
    (n: number) => `vertex/gemini-1.5-flash-${String(n).padStart(3, '0')}`,
    (n: number) => `ft:gpt-4.1-mini-2025-04-14:team-${n}`,
    (n: number) => `self-hosted/llama-3.1-8b-q4-${n}`,
  ];
  for (let n = 1; models.length < 240; n++) {
    // One tail model in twelve is self-hosted (unpriced).
    const family = n % 12 === 0 ? families.length - 1 : (n - 1) % (families.length - 1);
    const name = (families[family] as (n: number) => string)(n);
    const input = 50 + Math.floor(random() * 5000); // 0.05 .. 5.05 per million, 3 decimals
    models.push({
      name,
      input,
      output: input * (2 + Math.floor(random() * 4)),
      cached: Math.floor(input / 4),
      reasoning: 0,
      priced: family !== families.length - 1,
      reasons: false,
    });
  }
  return models;
}


/** An hour of the period and the rows (first..last, 1-based) whose sessions start in it. */
interface HourSlot {
  startMs: number;
  firstRow: number;
  lastRow: number;
}

/**
 * Splits `sessions` rows over the hours of the period in proportion to a traffic curve: growth
 * from 0.55x to 1.45x over the period, quieter weekends, a dip from 24 December to 1 January,
 * +-15% day-to-day noise, and a UTC day with a European morning and an American afternoon peak.
 * Counts are cumulative roundings, so they add up to `sessions` exactly.
 */
function hourSlots(sessions: number, days: number, until: Date, seed: number): HourSlot[] {
  const hours = days * 24;
  const firstHourMs = Math.floor(until.getTime() / HOUR_MS) * HOUR_MS - hours * HOUR_MS;
  const random = seededRandom(seed * 7919 + 17);
  const dayNoise = Array.from({ length: days + 1 }, () => 0.85 + 0.3 * random());
  const weights: number[] = [];
  for (let k = 0; k < hours; k++) {
    const at = new Date(firstHourMs + k * HOUR_MS);
    const day = Math.floor(k / 24);
    const growth = 0.55 + (0.9 * day) / Math.max(1, days - 1);
    const dow = at.getUTCDay();
    const weekly = dow === 6 ? 0.45 : dow === 0 ? 0.38 : dow === 5 ? 0.9 : 1.05;
    const m = at.getUTCMonth();
    const d = at.getUTCDate();
    const holiday = (m === 11 && d >= 24) || (m === 0 && d === 1) ? 0.5 : 1;
    const h = at.getUTCHours();
    const daily = 0.15 + Math.exp(-((h - 15) ** 2) / 18) + 0.6 * Math.exp(-((h - 8) ** 2) / 12.5);
    weights.push(growth * weekly * holiday * daily * (dayNoise[day] ?? 1));
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const slots: HourSlot[] = [];
  let cumulative = 0;
  let assigned = 0;
  for (let k = 0; k < hours; k++) {
    cumulative += weights[k] ?? 0;
    const upTo = k === hours - 1 ? sessions : Math.round((sessions * cumulative) / total);
    if (upTo > assigned) slots.push({ startMs: firstHourMs + k * HOUR_MS, firstRow: assigned + 1, lastRow: upTo });
    assigned = Math.max(assigned, upTo);
  }
  return slots;
}

/**
 * The INSERT of one chunk of rows [$4, $5]. Each nested level computes its columns once per row
 * (OFFSET 0 keeps the planner from inlining them into every reference). u(k) is a uniform
 * [0, 1) draw from the row number and purpose k; draws for different purposes are independent.
 */
function chunkSql(o: SeedOptions, modelCount: number): string {
  const u = (k: number): string =>
    `(((hashint8extended(g, ${o.seed * 1000 + k}) >> 11) & 9007199254740991)::float8 / 9007199254740992::float8)`;
  const pad = (prefix: string, width: number, col: string): string => `'${prefix}-' || lpad(${col}::text, ${width}, '0')`;
  const width = (n: number, min: number): number => Math.max(min, String(n).length);
  // Zipf-like rank in 1..M: floor((M + 1)^(u^1.8)) puts about 30% of draws on rank 1 and 9% past rank 100 (M = 240).
  const zipf = (k: number): string => `least(${modelCount}, floor(power(${modelCount + 1}, power(${u(k)}, 1.8)))::int)`;
  const js = Array.from({ length: MAX_MODELS_PER_SESSION }, (_, i) => i + 1);
  const sumOf = (col: (j: number) => string): string => js.map(col).join(' + ');

  return `
INSERT INTO trace_sessions (tenant_id, session_id, agent_id, agent_key_at, agent_key_event, team_id, team_key_at, team_key_event,
    started_event_at, first_event_at, last_event_at, ended_at, end_event_id, status, input_tokens, output_tokens,
    cached_input_tokens, reasoning_tokens, cost, unpriced_events, unpriced_tokens, price_version, tool_calls, event_count,
    models, created_at, updated_at)
SELECT ${pad('tenant', width(o.tenants, 2), 'tenant_no')},
       session_id, ${pad('agent', width(o.agents, 4), 'agent_no')}, start_at, start_event,
       ${pad('team', width(o.teams, 2), 'team_no')}, start_at, start_event,
       CASE WHEN has_start THEN start_at END, start_at, last_at,
       CASE WHEN status <> 'running' THEN last_at END, CASE WHEN status <> 'running' THEN end_event END, status,
       ${sumOf((j) => `in${j}`)}, ${sumOf((j) => `out${j}`)}, ${sumOf((j) => `cached${j}`)}, ${sumOf((j) => `reasoning${j}`)},
       (${sumOf((j) => `nanos${j}`)}) * 0.000000001,
       ${sumOf((j) => `unpriced${j}`)},
       ${sumOf((j) => `CASE WHEN unpriced${j} > 0 THEN in${j} + out${j} + cached${j} + reasoning${j} ELSE 0 END`)},
       CASE WHEN ${js.map((j) => `(events${j} > 0 AND unpriced${j} = 0)`).join(' OR ')} THEN '${PRICE_VERSION}' END,
       tool_calls, ${sumOf((j) => `events${j}`)} + tool_calls + has_start::int + (status <> 'running')::int,
       ${js.map((j) => `CASE WHEN events${j} > 0 THEN jsonb_build_object(name${j}, jsonb_build_object(
           'input', in${j}, 'output', out${j}, 'cached', cached${j}, 'reasoning', reasoning${j},
           'cost', trim_scale(nanos${j} * 0.000000001)::text, 'events', events${j}, 'unpriced', unpriced${j},
           'unpriced_tokens', CASE WHEN unpriced${j} > 0 THEN in${j} + out${j} + cached${j} + reasoning${j} ELSE 0 END))
         ELSE '{}'::jsonb END`).join(' || ')},
       start_at + (500 + (g % 2500)) * interval '1 ms', last_at + (800 + (g % 1700)) * interval '1 ms'
FROM (
  -- Per-model usage: tokens, cost (exact nano-units: tokens x per-token price) and unpriced events.
  SELECT *, ${js.map((j) => `
         CASE WHEN ($12::bool[])[r${j}] THEN in${j}::bigint * ($8::bigint[])[r${j}] + out${j}::bigint * ($9::bigint[])[r${j}]
           + cached${j}::bigint * ($10::bigint[])[r${j}] + reasoning${j}::bigint * ($11::bigint[])[r${j}] ELSE 0 END AS nanos${j},
         CASE WHEN ($12::bool[])[r${j}] THEN 0 ELSE events${j} END AS unpriced${j}`).join(',')}
  FROM (
    SELECT *, ${js.map((j) => `
           ($7::text[])[r${j}] AS name${j},
           floor(out${j} * CASE WHEN ($13::bool[])[r${j}] THEN 0.5 + 3 * ${u(40 + j)} ELSE 0 END)::bigint AS reasoning${j}`).join(',')}
    FROM (
      SELECT *, ${js.map((j) => `
             floor(in${j} * (0.03 + 0.35 * ${u(20 + j)}))::bigint AS out${j},
             CASE WHEN ${u(30 + j)} < 0.35 THEN floor(in${j} * 0.8 * ${u(35 + j)})::bigint ELSE 0 END AS cached${j}`).join(',')}
      FROM (
        SELECT *, ${js.map((j) => `
               floor(events${j} * 150 * power(250, ${u(15 + j)}))::bigint AS in${j}`).join(',')}
        FROM (
          SELECT *, ${js.map((j) => `
                 CASE WHEN model_count >= ${j} THEN 1 + floor(12 * power(${u(10 + j)}, 2))::int ELSE 0 END AS events${j}`).join(',')},
                 CASE WHEN r3a IN (r1, r2) THEN r3a % ${modelCount} + 1 ELSE r3a END AS r3
          FROM (
            SELECT *,
                   team_no + ${o.teams} * least(agents_in_team - 1, floor(power(agents_in_team + 1, ${u(4)}))::int - 1) AS agent_no,
                   CASE WHEN r3raw IN (r1, r2) THEN r3raw % ${modelCount} + 1 ELSE r3raw END AS r3a
            FROM (
              SELECT *, (${o.agents} - team_no) / ${o.teams} + 1 AS agents_in_team,
                     CASE WHEN r2raw = r1 THEN r1 % ${modelCount} + 1 ELSE r2raw END AS r2
              FROM (
                SELECT *, tenant_no + ${o.tenants} * floor(${u(3)} * ((${o.teams} - tenant_no) / ${o.tenants} + 1))::int AS team_no,
                       least(start_at + duration_ms * interval '1 ms', $6::timestamptz) AS last_at,
                       lpad(to_hex(start_ms), 12, '0') AS ms_hex
                FROM (
                  SELECT g, start_ms, start_at, h,
                         h::uuid::text AS start_event,
                         (substr(h, 17) || substr(h, 1, 16))::uuid::text AS end_event,
                         least(${o.tenants}, floor(power(${o.tenants + 1}, ${u(2)}))::int) AS tenant_no,
                         status, has_start,
                         CASE WHEN status = 'timeout' THEN 300000 + floor(${u(6)} * 3300000)::bigint
                              ELSE floor(2000 * power(1800, power(${u(6)}, 1.6)) + 1000 * ${u(7)})::bigint END AS duration_ms,
                         CASE WHEN status = 'running' AND ${u(8)} < 0.3 THEN 0
                              WHEN ${u(9)} < 0.72 THEN 1 WHEN ${u(9)} < 0.94 THEN 2 ELSE 3 END AS model_count,
                         ${zipf(11)} AS r1, ${zipf(12)} AS r2raw, ${zipf(13)} AS r3raw,
                         floor(6 * power(${u(14)}, 2))::int AS tool_calls
                  FROM (
                    SELECT g, start_ms, 'epoch'::timestamptz + start_ms * interval '1 ms' AS start_at, md5(g::text) AS h,
                           ${u(15)} >= 0.02 AS has_start,
                           CASE WHEN ${u(5)} < 0.002 OR (start_ms > $14::bigint - 7200000 AND ${u(5)} < 0.7) THEN 'running'
                                WHEN ${u(1)} < 0.905 THEN 'success' WHEN ${u(1)} < 0.955 THEN 'error'
                                WHEN ${u(1)} < 0.975 THEN 'timeout' ELSE 'cancelled' END AS status
                    FROM (
                      SELECT g, slot.start_ms + floor(${u(0)} * ${HOUR_MS})::bigint AS start_ms
                      FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS slot(start_ms, first_row, last_row)
                      CROSS JOIN LATERAL generate_series(greatest(slot.first_row, $4::bigint), least(slot.last_row, $5::bigint)) AS g
                    ) r0 OFFSET 0
                  ) l1 OFFSET 0
                ) l2 OFFSET 0
              ) l3 OFFSET 0
            ) l4 OFFSET 0
          ) l5 OFFSET 0
        ) l6 OFFSET 0
      ) l7 OFFSET 0
    ) l8 OFFSET 0
  ) l9 OFFSET 0
) l10
CROSS JOIN LATERAL (
  SELECT substr(ms_hex, 1, 8) || '-' || substr(ms_hex, 9, 4) || '-7' || substr(h, 1, 3) || '-' || '8' || substr(h, 4, 3)
         || '-' || lpad(to_hex(g), 12, '0') AS session_id
) ids`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

async function seed(client: PoolClient, o: SeedOptions): Promise<void> {
  const models = modelCatalogue();
  const slots = hourSlots(o.sessions, o.days, o.until, o.seed);
  const sql = chunkSql(o, models.length);
  const modelParams = [
    models.map((m) => m.name),
    models.map((m) => m.input),
    models.map((m) => m.output),
    models.map((m) => m.cached),
    models.map((m) => m.reasoning),
    models.map((m) => m.priced),
    models.map((m) => m.reasons),
  ];
  const started = Date.now();
  let slotIndex = 0;
  for (let first = 1; first <= o.sessions; first += o.chunkRows) {
    const last = Math.min(o.sessions, first + o.chunkRows - 1);
    while (slotIndex < slots.length && (slots[slotIndex] as HourSlot).lastRow < first) slotIndex++;
    const chunkSlots: HourSlot[] = [];
    for (let i = slotIndex; i < slots.length && (slots[i] as HourSlot).firstRow <= last; i++) chunkSlots.push(slots[i] as HourSlot);
    const t0 = Date.now();
    const { rowCount } = await client.query(sql, [
      chunkSlots.map((s) => s.startMs),
      chunkSlots.map((s) => s.firstRow),
      chunkSlots.map((s) => s.lastRow),
      first,
      last,
      o.until.toISOString(),
      ...modelParams,
      o.until.getTime(),
    ]);
    if (rowCount !== last - first + 1) {
      throw new TraceLedgerError('TL_SEED_SHORT_CHUNK', `rows ${first}..${last}: inserted ${rowCount ?? 0}, expected ${last - first + 1}`);
    }
    const elapsed = Date.now() - started;
    const chunkMs = Math.max(1, Date.now() - t0);
    const rate = (last * 1000) / Math.max(1, elapsed);
    process.stderr.write(
      `seed: ${fmt(last)}/${fmt(o.sessions)} (${((100 * last) / o.sessions).toFixed(1)}%)  chunk ${fmt(last - first + 1)} rows in ` +
        `${(chunkMs / 1000).toFixed(1)}s = ${fmt(Math.round(((last - first + 1) * 1000) / chunkMs))} rows/s  ` +
        `overall ${fmt(Math.round(rate))} rows/s  eta ${formatDuration(((o.sessions - last) * 1000) / rate)}\n`,
    );
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const where = new URL(o.databaseUrl);
  process.stderr.write(
    `seed: ${fmt(o.sessions)} sessions into ${where.host}${where.pathname}: ${o.tenants} tenants, ${o.teams} teams, ${o.agents} agents, ` +
      `${o.days} days up to ${o.until.toISOString()} (pass --until ${o.until.toISOString()} to reproduce), chunks of ${fmt(o.chunkRows)}\n`,
  );
  await migrate(o.databaseUrl);
  const pool = createPool(o.databaseUrl, { max: 1, applicationName: 'traceledger-seed-large' });
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM trace_sessions) AS any');
    if (rows[0]?.any === true) {
      if (!o.reset) {
        throw new TraceLedgerError('TL_SEED_NOT_EMPTY', `trace_sessions in ${where.pathname.slice(1)} already has rows; pass --reset to truncate it (and its rollup) first`);
      }
      process.stderr.write('seed: --reset: truncating trace_sessions and session_rollup_hourly\n');
      await client.query('TRUNCATE trace_sessions, session_rollup_hourly');
    }
    // Session-only settings: room for the per-chunk transition tables and trigger aggregation; no
    // fsync wait per chunk (a crash loses at most the last chunks, and the seed is rerun anyway);
    // no JIT, which the planner's row estimates would trigger and which costs more than it saves here.
    await client.query(`SET work_mem = '256MB'`);
    await client.query('SET synchronous_commit = off');
    await client.query('SET jit = off');
    await seed(client, o);
    const t0 = Date.now();
    // VACUUM as well as ANALYZE: it sets the visibility map, without which index-only scans fetch
    // every heap page. A live table gets that from autovacuum; a freshly loaded one (or a server
    // with autovacuum off) does not, and would benchmark slower than production.
    process.stderr.write('seed: VACUUM (ANALYZE)\n');
    await client.query('VACUUM (ANALYZE) trace_sessions');
    await client.query('VACUUM (ANALYZE) session_rollup_hourly');
    const analyzeMs = Date.now() - t0;
    const { rows: stats } = await client.query<{ rows: string; table: string; indexes: string; total: string; rollup_rows: string; rollup: string }>(
      `SELECT (SELECT count(*) FROM trace_sessions)::text AS rows,
              pg_size_pretty(pg_table_size('trace_sessions')) AS table,
              pg_size_pretty(pg_indexes_size('trace_sessions')) AS indexes,
              pg_size_pretty(pg_total_relation_size('trace_sessions')) AS total,
              (SELECT count(*) FROM session_rollup_hourly)::text AS rollup_rows,
              pg_size_pretty(pg_total_relation_size('session_rollup_hourly')) AS rollup`,
    );
    const s = stats[0];
    if (s !== undefined) {
      console.log(`database          ${where.pathname.slice(1)}`);
      console.log(`trace_sessions    ${fmt(Number(s.rows))} rows; table ${s.table} + indexes ${s.indexes} = ${s.total}`);
      console.log(`rollup            ${fmt(Number(s.rollup_rows))} rows, ${s.rollup}`);
      console.log(`period            ${new Date(o.until.getTime() - o.days * DAY_MS).toISOString()} .. ${o.until.toISOString()}`);
      console.log(`elapsed           ${formatDuration(Date.now() - started)} (VACUUM ANALYZE ${formatDuration(analyzeMs)})`);
    }
  } finally {
    client.release();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  const code = err instanceof TraceLedgerError ? err.code : undefined;
  console.error(`seed-large: ${code === undefined ? '' : `${code}: `}${err instanceof Error ? err.message : String(err)}`);
  if (code === undefined && err instanceof Error && err.stack) console.error(err.stack);
  process.exitCode = code === 'TL_SEED_BAD_OPTION' ? 2 : 1;
});
