import { loadConfig } from '@traceledger/config';
import { EventCodec } from '@traceledger/contract';
import { createPool, loadPriceBook, migrate, readPriceFiles, storePriceEntries } from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { buildConsumerService } from './app.js';

const config = loadConfig();
const logger = createLogger({ service: 'consumer', level: config.logLevel });
if (config.migrateOnStart) await migrate(config.databaseUrl);
const pool = createPool(config.databaseUrl, {
  applicationName: 'traceledger-consumer',
  onIdleError: (err) => logger.warn({ err }, 'idle database connection closed by the server'),
});
// The price book: prices/*.json stored once per version, then the whole stored book in memory.
const added = await storePriceEntries(pool, readPriceFiles());
const priceBook = await loadPriceBook(pool);
logger.info({ entries: priceBook.size, added }, 'price book loaded');
const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-consumer', logger });
await kafka.ensureTopics([
  { topic: config.kafkaTopic, partitions: config.kafkaTopicPartitions },
  { topic: config.kafkaDeadLetterTopic, partitions: 1 },
]);
const service = buildConsumerService(
  {
    consumer: kafka.consumer({ groupId: config.kafkaConsumerGroup }),
    deadLetters: kafka.publisher(),
    pool,
    codec: EventCodec.fromDirectory(),
    logger,
    priceOf: (event) => priceBook.price(event),
  },
  { topic: config.kafkaTopic, deadLetterTopic: config.kafkaDeadLetterTopic },
);

async function shutdown(code: number): Promise<never> {
  try {
    await service.stop();
    await pool.end();
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
  process.exit(code);
}

service.onFatal((err) => {
  logger.fatal({ err }, 'consumer failed for good; exiting so a supervisor restarts it');
  void shutdown(1);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down: finishing the batch in hand');
    void shutdown(0);
  });
}

await service.start();
logger.info({ topic: config.kafkaTopic, group: config.kafkaConsumerGroup }, 'consumer running');
