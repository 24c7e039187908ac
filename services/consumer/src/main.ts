import { kafkaDurability, loadConfig } from '@traceledger/config';
import { EventCodec } from '@traceledger/contract';
import { bookPricing, createPool, ensureLedgerPartitions, loadPriceBook, migrate, readPriceFiles, storePriceEntries } from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { connectionChecks, createMetricsRegistry } from '@traceledger/http';
import { createLogger } from '@traceledger/logging';
import type { FastifyInstance } from 'fastify';
import { buildConsumerService, type ConsumerService } from './app.js';
import { buildConsumerHttp } from './http.js';
import { consumerMetrics } from './metrics.js';
import { faultTestHooks } from './test-hooks.js';

const config = loadConfig();
const logger = createLogger({ service: 'consumer', level: config.logLevel });
const pool = createPool(config.databaseUrl, {
  applicationName: 'traceledger-consumer',
  onIdleError: (err) => logger.warn({ err }, 'idle database connection closed by the server'),
});
// A connection that dies while checked out (the server restarts mid-transaction) fails its query,
// which the fold retries, and also emits 'error' on the client, which the pool does not listen
// for while the client is lent out: unhandled, it would crash the process.
pool.on('connect', (client) => {
  client.on('error', (err) => logger.warn({ err }, 'database connection lost during a transaction'));
});
let service: ConsumerService | null = null;
let http: FastifyInstance | null = null;
let partitionTimer: NodeJS.Timeout | null = null;
let exiting = false;

/** The ledger's partitions for this month and the next two, so new sessions never land in the default partition. */
async function keepLedgerPartitions(): Promise<void> {
  const blocked = await ensureLedgerPartitions(pool);
  if (blocked.length > 0) logger.warn({ months: blocked }, 'ledger rows of these months are in the default partition; their partitions were not created (docs/scaling.md)');
}

/**
 * Stops within `graceMs` and exits with `code`. A stop that does not finish in time (a batch stuck
 * on the database, a broker that does not answer) must not keep a dead consumer alive: exit 1.
 */
function shutdown(code: number, graceMs: number): void {
  if (exiting) return;
  exiting = true;
  const timer = setTimeout(() => {
    logger.error({ graceMs }, 'shutdown did not finish in time; exiting without it');
    process.exit(1);
  }, graceMs);
  if (partitionTimer !== null) clearInterval(partitionTimer);
  (async () => {
    await service?.stop();
    await http?.close();
    await pool.end();
  })().then(
    () => {
      clearTimeout(timer);
      process.exit(code);
    },
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down: finishing the batch in hand and committing it');
    shutdown(0, config.shutdownTimeoutMs);
  });
}

try {
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-consumer', logger, producerClient: config.kafkaProducerClient, durability: kafkaDurability(config) });
  const consumer = kafka.consumer({ groupId: config.kafkaConsumerGroup, sessionTimeoutMs: config.kafkaSessionTimeoutMs, concurrency: config.consumerConcurrency, metadataMaxAgeMs: config.kafkaMetadataMaxAgeMs });
  const registry = createMetricsRegistry('consumer');
  const metrics = consumerMetrics(registry, consumer);
  // Probes and metrics first, so /health answers and /ready says why while the rest starts.
  http = buildConsumerHttp({ logger, registry, readiness: connectionChecks({ pool, kafka }) });
  await http.listen({ port: config.consumerPort, host: config.host });
  if (config.migrateOnStart) await migrate(config.databaseUrl);
  await keepLedgerPartitions();
  partitionTimer = setInterval(() => {
    keepLedgerPartitions().catch((err: unknown) => logger.warn({ err }, 'could not create the next ledger partitions; retrying in an hour'));
  }, 3_600_000);
  partitionTimer.unref();
  // The price book: PRICES_DIR/*.json stored once per version. Folds price with the whole stored
  // book, reloaded whenever a new version is stored (e.g. by reprice) while this process runs.
  const added = await storePriceEntries(pool, readPriceFiles(config.pricesDir ?? undefined));
  const priceBook = await loadPriceBook(pool);
  logger.info({ entries: priceBook.size, added }, 'price book loaded');
  await kafka.ensureTopics([
    { topic: config.kafkaTopic, partitions: config.kafkaTopicPartitions },
    { topic: config.kafkaDeadLetterTopic, partitions: 1 },
  ]);
  service = buildConsumerService(
    {
      consumer,
      deadLetters: kafka.publisher(),
      pool,
      codec: EventCodec.fromDirectory(),
      logger,
      pricing: bookPricing(),
      metrics,
      hooks: faultTestHooks({ crashAfterDbCommit: config.testCrashAfterDbCommit, stall: config.testStallBatch, holdBeforeCommitMs: config.testHoldBeforeCommitMs }, logger),
    },
    { topic: config.kafkaTopic, deadLetterTopic: config.kafkaDeadLetterTopic, watchdogMs: config.consumerWatchdogMs },
  );
  service.onFatal((err) => {
    logger.fatal({ err }, 'consumer failed for good; exiting so a supervisor restarts it');
    shutdown(1, Math.min(config.shutdownTimeoutMs, 5000));
  });
  await service.start();
  logger.info({ topic: config.kafkaTopic, group: config.kafkaConsumerGroup, watchdogMs: config.consumerWatchdogMs }, 'consumer running');
} catch (err) {
  logger.fatal({ err }, 'consumer could not start; exiting');
  shutdown(1, 5000);
}
