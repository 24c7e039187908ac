import { describe, expect, inject, it } from 'vitest';
import { DEFAULT_TENANT } from '@traceledger/core';
import { scrape, type Scrape } from './helpers/metrics.js';
import { freePort } from './helpers/faults/ports.js';
import { msg, spawnService, type LogLine, type ServiceProcess } from './helpers/faults/processes.js';
import { EventFactory } from './helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from './helpers/faults/world.js';

// The operator endpoints of the three services, as real processes over HTTP: probes, the
// Prometheus metrics after real traffic (each counter moved by exactly what the traffic did), and
// ingest's OpenAPI document.
printProcessLogsOnFailure();

const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

async function startStack() {
  const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
  const [ingestPort, queryPort, consumerPort] = [await freePort(), await freePort(), await freePort()];
  const common = { DATABASE_URL: world.databaseUrl, AUTH_MODE: 'none' };
  const consumer = spawnService('consumer', world.consumerEnv({ CONSUMER_PORT: String(consumerPort) }));
  const ingest = spawnService('ingest', { ...common, KAFKA_BROKERS: world.brokers.join(','), KAFKA_TOPIC: world.topic, INGEST_PORT: String(ingestPort) });
  const query = spawnService('query', { ...common, QUERY_PORT: String(queryPort) });
  const started = (p: ServiceProcess, what: (l: LogLine) => boolean) => p.waitForLog(what, { timeoutMs: 45_000, what: `${p.name} to start` });
  await Promise.all([started(consumer, msg('consumer running')), started(ingest, listening), started(query, listening)]);
  return {
    world,
    urls: { ingest: `http://127.0.0.1:${ingestPort}`, query: `http://127.0.0.1:${queryPort}`, consumer: `http://127.0.0.1:${consumerPort}` },
  };
}

const delta = (before: Scrape, after: Scrape, name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

describe('operator endpoints of every service', () => {
  it('probes and docs answer without a key; /metrics counts exactly the traffic sent, with no tenant in any label', async () => {
    const { world, urls } = await startStack();
    for (const base of Object.values(urls)) {
      for (const path of ['/health', '/healthz']) {
        const res = await fetch(`${base}${path}`);
        expect(res.status, `${base}${path}`).toBe(200);
        expect(await res.json()).toEqual({ status: 'ok' });
      }
      const ready = await fetch(`${base}/ready`);
      expect(ready.status, `${base}/ready`).toBe(200);
      expect(((await ready.json()) as { status: string }).status).toBe('ready');
    }

    const before = { ingest: await scrape(urls.ingest), consumer: await scrape(urls.consumer), query: await scrape(urls.query) };

    // 30 good events and 2 bad ones, then the same 30 again (the consumer sees them as duplicates),
    // then an OTLP export.
    const factory = new EventFactory([DEFAULT_TENANT]);
    const good = factory.batch(30).events;
    const bad = [{ event_id: 'bad-1', type: 'no.such.type' }, { ...good[0], event_id: 'bad-2', occurred_at: 'yesterday' }];
    const post = (events: unknown[]) =>
      fetch(`${urls.ingest}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    const first = await post([...good, ...bad]);
    expect(first.status).toBe(207);
    const answer = (await first.json()) as { results: { status: string; code?: string }[] };
    const rejectedCodes = answer.results.filter((r) => r.status === 'rejected').map((r) => r.code as string);
    expect(rejectedCodes).toHaveLength(2);
    expect((await post(good)).status).toBe(202);
    // One OTLP export: a model-call span and a span without GenAI attributes.
    const nowNs = `${Date.now()}000000`;
    const otlpSpan = (spanId: string, attributes: unknown[]) => ({ traceId: '5b8efff798038103d269b633813fc60c', spanId, name: spanId, startTimeUnixNano: nowNs, endTimeUnixNano: nowNs, attributes });
    const otlp = await fetch(`${urls.ingest}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  otlpSpan('eee19b7ec3c1b174', [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } }, { key: 'gen_ai.usage.input_tokens', value: { intValue: 42 } }]),
                  otlpSpan('eee19b7ec3c1b175', [{ key: 'http.request.method', value: { stringValue: 'GET' } }]),
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(otlp.status).toBe(200);
    // A record that reaches the topic without passing ingest, and cannot be read.
    const raw = world.kafka.publisher();
    await raw.connect();
    await raw.publish(world.topic, [{ key: 'not-avro', value: Buffer.from('definitely not an Avro record') }]);
    await raw.disconnect();
    await world.drained({ timeoutMs: 45_000 });

    for (let i = 0; i < 3; i++) expect((await fetch(`${urls.query}/api/billing/summary`)).status).toBe(200);
    expect((await fetch(`${urls.query}/api/analytics/platform?period=all`)).status).toBe(200);

    const after = { ingest: await scrape(urls.ingest), consumer: await scrape(urls.consumer), query: await scrape(urls.query) };

    // ingest: 60 accepted events, the 2 rejected under their own codes, one produce per request.
    expect(delta(before.ingest, after.ingest, 'traceledger_ingest_events_accepted_total', { route: '/v1/events', service: 'ingest' })).toBe(60);
    const byCode = new Map<string, number>();
    for (const code of rejectedCodes) byCode.set(code, (byCode.get(code) ?? 0) + 1);
    for (const [code, n] of byCode) expect(delta(before.ingest, after.ingest, 'traceledger_ingest_events_rejected_total', { code, service: 'ingest' }), code).toBe(n);
    expect(delta(before.ingest, after.ingest, 'traceledger_ingest_produce_duration_seconds_count', { outcome: 'ok', service: 'ingest' })).toBe(3);
    expect(delta(before.ingest, after.ingest, 'traceledger_ingest_events_accepted_total', { route: '/v1/traces', service: 'ingest' })).toBe(1);
    expect(delta(before.ingest, after.ingest, 'traceledger_ingest_otlp_spans_total', { outcome: 'accepted', service: 'ingest' })).toBe(1);
    expect(delta(before.ingest, after.ingest, 'traceledger_ingest_otlp_spans_total', { outcome: 'ignored', service: 'ingest' })).toBe(1);
    expect(delta(before.ingest, after.ingest, 'traceledger_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', status_code: '207', service: 'ingest' })).toBe(1);
    expect(delta(before.ingest, after.ingest, 'traceledger_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', status_code: '202', service: 'ingest' })).toBe(1);

    // consumer: 31 events new in the ledger (30 + the OTLP span's), 30 duplicates, 1 dead letter; nothing left waiting.
    expect(delta(before.consumer, after.consumer, 'traceledger_consumer_events_total', { outcome: 'applied', service: 'consumer' })).toBe(31);
    expect(delta(before.consumer, after.consumer, 'traceledger_consumer_events_total', { outcome: 'duplicate', service: 'consumer' })).toBe(30);
    const dead = after.consumer.series('traceledger_consumer_dead_letters_total');
    expect(dead.reduce((n, s) => n + s.value, 0) - before.consumer.series('traceledger_consumer_dead_letters_total').reduce((n, s) => n + s.value, 0)).toBe(1);
    expect(dead.map((s) => s.labels['code'])).toEqual([expect.stringMatching(/^TL_RECORD_/)]);
    expect(delta(before.consumer, after.consumer, 'traceledger_consumer_batch_records_sum', { service: 'consumer' })).toBe(62);
    expect(delta(before.consumer, after.consumer, 'traceledger_consumer_fold_duration_seconds_count', { service: 'consumer' })).toBe(
      delta(before.consumer, after.consumer, 'traceledger_consumer_batch_records_count', { service: 'consumer' }),
    );
    const lag = after.consumer.series('traceledger_consumer_lag_records');
    expect(lag.map((s) => s.labels['partition']).sort()).toEqual(['0', '1', '2']);
    expect(lag.every((s) => s.value === 0)).toBe(true);

    // query: latency by route template.
    expect(delta(before.query, after.query, 'traceledger_http_request_duration_seconds_count', { method: 'GET', route: '/api/billing/summary', status_code: '200', service: 'query' })).toBe(3);
    expect(delta(before.query, after.query, 'traceledger_http_request_duration_seconds_count', { method: 'GET', route: '/api/analytics/platform', status_code: '200', service: 'query' })).toBe(1);

    // Default process metrics on each, and no tenant, session or key anywhere in a label.
    for (const s of Object.values(after)) {
      expect(s.value('traceledger_process_resident_memory_bytes', { service: s === after.ingest ? 'ingest' : s === after.query ? 'query' : 'consumer' })).toBeGreaterThan(0);
      const labelNames = new Set([...s.samples.keys()].flatMap((k) => [...k.matchAll(/(\w+)="/g)].map((m) => m[1])));
      expect([...labelNames].filter((n) => /tenant|session|key|agent|team/i.test(n ?? ''))).toEqual([]);
      expect([...s.samples.keys()].filter((k) => k.includes(`="${DEFAULT_TENANT}"`))).toEqual([]);
      expect(s.text).not.toContain(good[0]?.session_id as string);
    }

    // ingest's OpenAPI document, /v1/events included, is public like the probes.
    const docs = await fetch(`${urls.ingest}/docs/json`);
    expect(docs.status).toBe(200);
    const doc = (await docs.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/traces', '/api/billing/ingest']));
    expect((await fetch(`${urls.ingest}/docs`)).status).toBe(200);
  });
});
