import { loadConfig } from '@traceledger/config';
import { EventCodec } from '@traceledger/contract';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { buildIngestApp } from './app.js';

const config = loadConfig();
const logger = createLogger({ service: 'ingest', level: config.logLevel });
const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-ingest', logger });
await kafka.ensureTopics([
  { topic: config.kafkaTopic, partitions: config.kafkaTopicPartitions },
  { topic: config.kafkaDeadLetterTopic, partitions: 1 },
]);
const publisher = kafka.publisher();
await publisher.connect();
const app = buildIngestApp(
  { publisher, codec: EventCodec.fromDirectory(), logger },
  {
    topic: config.kafkaTopic,
    maxBodyBytes: config.maxBodyBytes,
    maxBatchEvents: config.maxBatchEvents,
    retryAfterSeconds: config.retryAfterSeconds,
  },
);
app.addHook('onClose', async () => {
  await publisher.disconnect();
});

// SIGTERM drains: stop accepting, answer requests in flight, then disconnect from Kafka.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

await app.listen({ port: config.ingestPort, host: config.host });
