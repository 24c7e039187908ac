import { Kafka, Partitioners, logLevel as KafkaLogLevel, type Consumer, type Producer, type logCreator } from 'kafkajs';
import { TraceLedgerError } from '@traceledger/core';
import type { Logger } from 'pino';

/**
 * The Kafka port: the rest of traceledger publishes and consumes through these interfaces and
 * never imports kafkajs, so the client can change without touching services.
 */
export interface KafkaPort {
  /** Creates the topics that are missing (auto-creation is off on the broker). */
  ensureTopics(topics: readonly { topic: string; partitions: number }[]): Promise<void>;
  publisher(): Publisher;
  /** Records of `topic` not yet committed by `groupId`, summed over partitions. */
  consumerLag(groupId: string, topic: string): Promise<number>;
  consumer(options: { groupId: string; sessionTimeoutMs?: number }): BatchConsumer;
}

export interface OutMessage {
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface Publisher {
  connect(): Promise<void>;
  /**
   * Resolves only when every message is acknowledged by all in-sync replicas (acks=all).
   * Throws TraceLedgerError TL_KAFKA_UNAVAILABLE (retriable) when the broker cannot take them
   * within `timeoutMs`; then none of them may be reported to a client as accepted.
   */
  publish(topic: string, messages: readonly OutMessage[], timeoutMs?: number): Promise<void>;
  disconnect(): Promise<void>;
}

export interface InRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  /** Record headers as UTF-8 strings (a repeated header keeps its last value). */
  headers: Record<string, string>;
}

export interface BatchContext {
  topic: string;
  partition: number;
  /** Keeps the group membership alive during long work. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the partition was taken away. */
  isActive(): boolean;
}

/** Handles one fetched batch; offsets are committed only after it resolves. */
export type BatchHandler = (records: readonly InRecord[], ctx: BatchContext) => Promise<void>;

export interface BatchConsumer {
  /** Subscribes and starts consuming; resolves once the consumer is running. */
  start(topic: string, handler: BatchHandler, options?: { fromBeginning?: boolean }): Promise<void>;
  /** Stops fetching, lets the batch in hand finish and commit, then leaves the group. */
  stop(): Promise<void>;
  /** Called when the consumer fails for good (it will not restart by itself). */
  onFatal(listener: (err: Error) => void): void;
}

export const KafkaErrorCode = {
  Unavailable: 'TL_KAFKA_UNAVAILABLE',
} as const;

/** Builds the Kafka port over kafkajs, logging through pino. */
export function createKafka(options: { brokers: readonly string[]; clientId: string; logger: Logger }): KafkaPort {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: KafkaLogLevel.WARN,
    logCreator: pinoLogCreator(options.logger),
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 5 },
  });

  return {
    async ensureTopics(topics) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.topic));
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 })),
          });
        }
      } catch (err) {
        // A concurrent creator won the race: the topic exists, which is what we wanted.
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
      } finally {
        await admin.disconnect();
      }
    },
    async consumerLag(groupId, topic) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)]));
        let lag = 0n;
        for (const p of ends) lag += BigInt(p.high) - (done.get(p.partition) ?? 0n);
        return Number(lag);
      } finally {
        await admin.disconnect();
      }
    },
    publisher() {
      return new KafkajsPublisher(kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 3, maxRetryTime: 1000 } }));
    },
    consumer({ groupId, sessionTimeoutMs }) {
      return new KafkajsBatchConsumer(
        kafka.consumer({
          groupId,
          sessionTimeout: sessionTimeoutMs ?? 30_000,
          heartbeatInterval: 3000,
          allowAutoTopicCreation: false,
          maxBytesPerPartition: 1_048_576,
          retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5000 },
        }),
        options.logger,
      );
    },
  };
}

class KafkajsPublisher implements Publisher {
  constructor(private readonly producer: Producer) {}

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async publish(topic: string, messages: readonly OutMessage[], timeoutMs = 10_000): Promise<void> {
    if (messages.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no acknowledgement within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        this.producer.send({
          topic,
          acks: -1,
          timeout: timeoutMs,
          messages: messages.map((m) => ({ key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) })),
        }),
        timeout,
      ]);
    } catch (cause) {
      throw new TraceLedgerError(KafkaErrorCode.Unavailable, `Kafka did not acknowledge ${messages.length} message(s) on ${topic}: ${(cause as Error).message}`, {
        cause,
        retriable: true,
        statusCode: 503,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

class KafkajsBatchConsumer implements BatchConsumer {
  private fatalListeners: ((err: Error) => void)[] = [];
  private stopping = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly log: Logger,
  ) {
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (restart || this.stopping) {
        this.log.warn({ err: error, restart }, 'kafka consumer crashed; kafkajs restarts it');
        return;
      }
      for (const l of this.fatalListeners) l(error);
    });
  }

  onFatal(listener: (err: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  async start(topic: string, handler: BatchHandler, options: { fromBeginning?: boolean } = {}): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        if (batch.messages.length === 0 || !isRunning() || isStale()) return;
        const records: InRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          timestamp: m.timestamp,
          headers: headersToStrings(m.headers),
        }));
        await handler(records, {
          topic: batch.topic,
          partition: batch.partition,
          heartbeat,
          isActive: () => isRunning() && !isStale(),
        });
        const last = batch.lastOffset();
        resolveOffset(last);
        // Committed only now that the handler's database transaction is durable. If the
        // partition moved to another member meanwhile, the commit fails and the new owner
        // re-reads these records: the fold's ledger makes that a no-op.
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.stop();
    await this.consumer.disconnect();
  }
}

function headersToStrings(headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}

function pinoLogCreator(logger: Logger): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, ...extra } = log;
    const fields = { kafka: { namespace, ...extra } };
    if (level === KafkaLogLevel.ERROR) logger.error(fields, message);
    else if (level === KafkaLogLevel.WARN) logger.warn(fields, message);
    else if (level === KafkaLogLevel.INFO) logger.info(fields, message);
    else logger.debug(fields, message);
  };
}
