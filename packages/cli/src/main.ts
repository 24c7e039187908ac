/**
 * The traceledger operator CLI (bin/traceledger). Reads DATABASE_URL and the other settings
 * like the services do. Exit codes: 0 done, 1 failed, 2 usage error.
 */
import { kafkaDurability, loadConfig } from '@traceledger/config';
import { TraceLedgerError } from '@traceledger/core';
import { createPool } from '@traceledger/db';
import { EventCodec } from '@traceledger/contract';
import { createKafka, type Publisher } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { BACKFILL_HELP, backfillCommand } from './backfill.js';
import { DEAD_LETTERS_HELP, deadLettersCommand } from './dead-letters.js';
import { KEYS_HELP, keysCommand } from './keys.js';
import { LEDGER_HELP, ledgerCommand } from './ledger.js';
import { REPLAY_HELP, replayCommand } from './replay.js';
import { REPRICE_HELP, repriceCommand } from './reprice.js';
import { VERIFY_HELP, verifyCommand } from './verify.js';
import { UsageError, createOutput } from './output.js';

const HELP = `traceledger: operate a traceledger deployment

  traceledger keys create|list|revoke   API keys per tenant (traceledger keys --help)
  traceledger reprice --from --to       re-price history after a price change (traceledger reprice --help)
  traceledger replay --from TIME|earliest  rebuild sessions from the topic, swapped in atomically (traceledger replay --help)
  traceledger backfill create|load|close|revert|list|status
                                        staged imports of historical events (traceledger backfill --help)
  traceledger verify [--tenant T]      check trace_sessions against the ledger and the rollups against
                                        trace_sessions; exit 1 on any difference (traceledger verify --help)
  traceledger dead-letters list|redrive
                                        records the consumer could not read; re-drive them after a fix
                                        (traceledger dead-letters --help)
  traceledger ledger months|archive     the ledger's monthly partitions; archive an old month
                                        (traceledger ledger --help)

Options: --json prints one JSON document instead of lines. Settings come from the environment
(DATABASE_URL, KAFKA_BROKERS, ...), as for the services.`;

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const args = argv.filter((a) => a !== '--json');
const out = createOutput(json);
const [command, ...rest] = args;

if (command === undefined || command === '--help' || command === 'help') {
  console.log(HELP);
  process.exit(command === undefined ? 2 : 0);
}
if (rest.includes('--help')) {
  const helps: Record<string, string> = { keys: KEYS_HELP, reprice: REPRICE_HELP, backfill: BACKFILL_HELP, 'dead-letters': DEAD_LETTERS_HELP, replay: REPLAY_HELP, verify: VERIFY_HELP, ledger: LEDGER_HELP };
  console.log(helps[command] ?? HELP);
  process.exit(0);
}

const config = loadConfig();
/** Warnings (kafkajs included) go to stderr, so that stdout holds only the answer. */
const cliLogger = () => createLogger({ service: 'cli', level: 'warn', destination: process.stderr });
const pool = createPool(config.databaseUrl, { max: 2, applicationName: 'traceledger-cli' });
try {
  if (command === 'keys') await keysCommand(pool, rest, out);
  else if (command === 'reprice') await repriceCommand(pool, rest, out, config.pricesDir === null ? {} : { pricesDir: config.pricesDir });
  else if (command === 'verify') process.exitCode = await verifyCommand(pool, rest, out, process.stderr.isTTY === true && !json);
  else if (command === 'replay') {
    const logger = cliLogger();
    const port = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-replay', logger, producerClient: config.kafkaProducerClient, durability: kafkaDurability(config) });
    let publisher: Publisher | null = null;
    try {
      await replayCommand(
        pool,
        {
          codec: EventCodec.fromDirectory(),
          read: (groupId, start, handler) => port.readRange(config.kafkaTopic, start, handler, { groupId }),
          deadLetters: async (messages) => {
            if (publisher === null) {
              await port.ensureTopics([{ topic: config.kafkaDeadLetterTopic, partitions: 1 }]);
              publisher = port.publisher();
              await publisher.connect();
            }
            await publisher.publish(config.kafkaDeadLetterTopic, messages);
          },
        },
        rest,
        out,
      );
    } finally {
      await (publisher as Publisher | null)?.disconnect();
    }
  } else if (command === 'backfill') {
    const kafka = async () => {
      const port = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-cli', logger: cliLogger(), producerClient: config.kafkaProducerClient, durability: kafkaDurability(config) });
      await port.ensureTopics([{ topic: config.kafkaTopic, partitions: config.kafkaTopicPartitions }]);
      const publisher = port.publisher();
      await publisher.connect();
      return { publisher, topic: config.kafkaTopic };
    };
    await backfillCommand(pool, kafka, rest, out, process.stderr.isTTY === true && !json);
  }
  else if (command === 'ledger') await ledgerCommand(pool, rest, out, { dedupeWindowDays: config.ledgerDedupeWindowDays });
  else if (command === 'dead-letters') {
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'traceledger-cli', logger: cliLogger(), producerClient: config.kafkaProducerClient, durability: kafkaDurability(config) });
    await deadLettersCommand(kafka, { topic: config.kafkaTopic, deadLetterTopic: config.kafkaDeadLetterTopic }, rest, out);
  }
  else throw new UsageError(`unknown command "${command}"`, HELP);
} catch (err) {
  if (err instanceof UsageError) {
    if (err.message) console.error(`traceledger: ${err.message}\n`);
    console.error(err.help);
    process.exitCode = 2;
  } else if (err instanceof TraceLedgerError) {
    console.error(`traceledger: ${err.message} (${err.code})`);
    process.exitCode = 1;
  } else {
    throw err;
  }
} finally {
  await pool.end();
}
