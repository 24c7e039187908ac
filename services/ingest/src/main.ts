import { kafkaDurability, loadConfig } from '@traceledger/config';
import { connectionChecks, createMetricsRegistry, isClusterWorker, joinCluster, serveUntilSignal, superviseWorkers } from '@traceledger/http';
import { KeyStore, apiKeyAuthenticator, fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { EventCodec } from '@traceledger/contract';
import { createPool, migrate } from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { buildIngestApp } from './app.js';
import { deleteExpiredIdempotencyKeys } from './idempotency.js';
import { TraceStore } from './otlp/trace-store.js';

const config = loadConfig();
const baseLogger = createLogger({ service: 'ingest', level: config.logLevel });
// One worker of several (INGEST_PROCESSES) says which one it is in every line.
const logger = isClusterWorker() ? baseLogger.child({ pid: process.pid }) : baseLogger;
if (config.ingestProcesses > 1 && !isClusterWorker()) {
  // INGEST_PROCESSES > 1: this process migrates, then supervises the workers that serve.
  if (config.migrateOnStart) await migrate(config.databaseUrl);
  superviseWorkers({ workers: config.ingestProcesses, logger, shutdownTimeoutMs: config.shutdownTimeoutMs });
} else {
  await serve();
}

async function serve(): Promise<void> {
  if (config.migrateOnStart && !isClusterWorker()) await migrate(config.databaseUrl);
  // API keys are looked up in Postgres (cached briefly), and the answers of requests with an
  // Idempotency-Key are kept there; nothing else in ingest touches the database.
  const pool = createPool(config.databaseUrl, {
    max: 4,
    applicationName: 'traceledger-ingest',
    onIdleError: (err) => logger.warn({ err }, 'idle database connection closed by the server'),
  });
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-ingest', logger, producerClient: config.kafkaProducerClient, durability: kafkaDurability(config) });
  await kafka.ensureTopics([
    { topic: config.kafkaTopic, partitions: config.kafkaTopicPartitions },
    { topic: config.kafkaDeadLetterTopic, partitions: 1 },
  ]);
  const publisher = kafka.publisher();
  await publisher.connect();
  const registry = createMetricsRegistry('ingest');
  const app = buildIngestApp(
    {
      registry,
      ...(isClusterWorker() ? { metricsText: joinCluster(registry).metrics } : {}),
      publisher,
      codec: EventCodec.fromDirectory(),
      logger,
      pool,
      auth: config.authMode === 'keys' ? apiKeyAuthenticator(new KeyStore(pool)) : fixedTenant(DEFAULT_TENANT),
      readiness: connectionChecks({ pool, kafka }),
    },
    {
      topic: config.kafkaTopic,
      maxBodyBytes: config.maxBodyBytes,
      maxBatchEvents: config.maxBatchEvents,
      retryAfterSeconds: config.retryAfterSeconds,
      maxEventBytes: config.maxEventBytes,
      rateLimit: {
        requestsPerSecond: config.rateLimitRequestsPerSecond,
        eventsPerSecond: config.rateLimitEventsPerSecond,
        burstSeconds: config.rateLimitBurstSeconds,
      },
      requestTimeoutMs: config.ingestRequestTimeoutMs,
      idleTimeoutMs: config.ingestIdleTimeoutMs,
      idempotencyTtlMs: config.idempotencyTtlHours * 3_600_000,
    },
  );
  // Expired idempotency keys are never replayed, and OTLP spans past their retention no longer
  // relate to new ones; deleting them only keeps the tables small.
  const traces = new TraceStore(pool);
  const sweep = setInterval(() => {
    deleteExpiredIdempotencyKeys(pool, config.idempotencyTtlHours * 3_600_000).then(
      (deleted) => {
        if (deleted > 0) logger.info({ deleted }, 'deleted expired idempotency keys');
      },
      (err: unknown) => logger.warn({ err }, 'could not delete expired idempotency keys'),
    );
    traces.deleteOlderThan(config.otelSpanRetentionHours * 3_600_000).then(
      (deleted) => {
        if (deleted > 0) logger.info({ deleted }, 'deleted OTLP spans past their retention');
      },
      (err: unknown) => logger.warn({ err }, 'could not delete old OTLP spans'),
    );
  }, 10 * 60_000);
  sweep.unref();
  app.addHook('onClose', async () => {
    clearInterval(sweep);
    await publisher.disconnect();
    await pool.end();
  });

  await serveUntilSignal(app, logger, { port: config.ingestPort, host: config.host });
}
