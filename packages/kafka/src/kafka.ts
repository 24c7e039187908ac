import kafkajs, { Kafka, Partitioners, logLevel as KafkaLogLevel, type Admin, type Consumer, type Producer, type logCreator } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { TraceLedgerError } from '@traceledger/core';
import type { Logger } from 'pino';
import { KafkaErrorCode, acknowledgedWithin } from './errors.js';
import { PlatformaticPublisher } from './platformatic-publisher.js';

/**
 * The Kafka port: the rest of traceledger publishes and consumes through these interfaces and
 * never imports kafkajs, so the client can change without touching services.
 */
export interface KafkaPort {
  /**
   * Creates the topics that are missing (auto-creation is off on the broker) with the port's
   * durability (replication factor, min.insync.replicas), and checks the ones that exist: each
   * weaker than that is logged as a warning and returned. Throws TL_KAFKA_TOPIC_SETTINGS when the
   * cluster cannot hold a topic as asked (more replicas than brokers).
   */
  ensureTopics(topics: readonly { topic: string; partitions: number }[]): Promise<WeakTopic[]>;
  publisher(): Publisher;
  /** Records of `topic` not yet committed by `groupId`, summed over partitions. */
  consumerLag(groupId: string, topic: string): Promise<number>;
  /** Per partition of `topic`: the offset `groupId` committed (null: none yet) and the end of the log. */
  groupOffsets(groupId: string, topic: string): Promise<{ partition: number; committed: bigint | null; end: bigint }[]>;
  consumer(options: ConsumerOptions): BatchConsumer;
  /**
   * The records on `topic` from its start to its end as of the call, in offset order per
   * partition (partitions in order), at most `maxRecords`. Read by a throwaway consumer group that
   * commits nothing and is deleted afterwards. For operator tools such as the dead-letter command.
   */
  readTopic(topic: string, options?: { maxRecords?: number; timeoutMs?: number }): Promise<InRecord[]>;
  /**
   * The one read path over a bounded slice of a topic: from the earliest offset, or the first at or
   * after a time, up to the end offsets the topic has when the read starts (later records are left
   * to the live consumer), handed to `handler` batch by batch in offset order per partition. A
   * handler returning `false` ends the read early. Uses a consumer group of its own (`groupId`, or a
   * throwaway one), commits nothing and deletes the group afterwards: an interrupted read is simply
   * started again. Throws TL_KAFKA_UNAVAILABLE (retriable) when the slice is not read within
   * `deadlineMs`; a handler's error is rethrown as it is.
   */
  readRange(
    topic: string,
    start: RangeStart,
    handler: (records: readonly InRecord[]) => Promise<boolean | void>,
    options?: { groupId?: string; deadlineMs?: number },
  ): Promise<RangeReadResult>;
  /** Resolves when a broker answers a metadata request now (readiness probes); throws otherwise. */
  ping(): Promise<void>;
}

/** How durable the topics traceledger creates are. */
export interface TopicDurability {
  replicationFactor: number;
  minInsyncReplicas: number;
}

/** An existing topic weaker than the configured durability. */
export interface WeakTopic {
  topic: string;
  replicationFactor: number;
  /** null: the broker's default applies and could not be read. */
  minInsyncReplicas: number | null;
  /** What is weaker, in words. */
  problem: string;
}

/** Where a range read starts on each partition. */
export type RangeStart = { earliest: true } | { timestampMs: number };

export interface RangeReadResult {
  records: number;
  /** Per partition: [first offset read, end offset (exclusive)] */
  partitions: Record<number, [string, string]>;
}

export interface ConsumerOptions {
  groupId: string;
  /**
   * How long the group coordinator waits without a heartbeat before it gives this member's
   * partitions to another (default 30000; the broker allows 6000 and up unless configured otherwise).
   * Heartbeats are sent every third of it.
   */
  sessionTimeoutMs?: number;
  /**
   * Partitions whose batches are handled at once (default 1). Batches of one partition are always
   * handled one after another, in offset order; batches of different partitions overlap.
   */
  concurrency?: number;
  /**
   * How often the member re-reads the topic's metadata, in ms (default 60000): a partition added
   * to the topic is noticed within about this long, and the group rebalances to take it in.
   */
  metadataMaxAgeMs?: number;
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
  /** Called after a batch's offsets were committed. */
  onCommitted(listener: (batch: { topic: string; partition: number; nextOffset: string }) => void): void;
  /**
   * Records waiting on the partitions this member owns (committed offset to the end of each).
   * Null while the member is not in the group (starting, rejoining after a crash) or the broker
   * cannot be asked: then nobody knows, which a watchdog must treat as "maybe positive".
   */
  lag(): Promise<number | null>;
  /** The same, per owned partition, in partition order (null as for `lag`). */
  partitionLag(): Promise<{ partition: number; lag: number }[] | null>;
}

export { KafkaErrorCode };

/** The client a publisher produces with: kafkajs, or @platformatic/kafka (about 40% of kafkajs's CPU per record). */
export type ProducerClient = 'kafkajs' | 'platformatic';

/** Publishers' client unless told otherwise: @platformatic/kafka, measured at ~2.5x kafkajs's records/s here (docs/benchmarks.md). */
export const DEFAULT_PRODUCER_CLIENT: ProducerClient = 'platformatic';

/**
 * Builds the Kafka port over kafkajs, logging through pino. Publishers use `producerClient`
 * (default DEFAULT_PRODUCER_CLIENT); whichever it is, equal keys go to the same partition (Java's murmur2).
 */
export function createKafka(options: { brokers: readonly string[]; clientId: string; logger: Logger; producerClient?: ProducerClient; durability?: TopicDurability }): KafkaPort {
  const durability = options.durability ?? { replicationFactor: 1, minInsyncReplicas: 1 };
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: KafkaLogLevel.WARN,
    logCreator: pinoLogCreator(options.logger),
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 5 },
  });

  const port: KafkaPort = {
    async ensureTopics(topics) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.topic));
        if (missing.length > 0) {
          try {
            await admin.createTopics({
              // Leaders are awaited below: on a cluster, kafkajs' own wait gives up on a node that
              // has not heard of the new topic yet.
              waitForLeaders: false,
              topics: missing.map((t) => ({
                topic: t.topic,
                numPartitions: t.partitions,
                replicationFactor: durability.replicationFactor,
                configEntries: [{ name: 'min.insync.replicas', value: String(durability.minInsyncReplicas) }],
              })),
            });
          } catch (err) {
            // kafkajs reports per-topic errors in an aggregate; a single error has its own type.
            const e = err as { type?: string; errors?: { type?: string }[] };
            const types = e.errors?.map((x) => x.type) ?? [e.type];
            // A concurrent creator won the race: the topic exists, which is what we wanted.
            if (!types.every((t) => t === 'TOPIC_ALREADY_EXISTS')) {
              if (!types.some((t) => t === 'INVALID_REPLICATION_FACTOR' || t === 'INVALID_CONFIG' || t === 'POLICY_VIOLATION')) throw err;
              const brokers = (await admin.describeCluster().catch(() => null))?.brokers.length;
              throw new TraceLedgerError(
                KafkaErrorCode.TopicSettings,
                `could not create ${missing.map((t) => t.topic).join(', ')} with replication factor ${durability.replicationFactor} and min.insync.replicas ${durability.minInsyncReplicas}` +
                  `${brokers === undefined ? '' : ` on a cluster of ${brokers} broker(s)`}: ${(err as Error).message} (KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS)`,
                { cause: err },
              );
            }
          }
          await waitForLeaders(admin, missing.map((t) => t.topic));
        }
        const present = topics.filter((t) => existing.has(t.topic)).map((t) => t.topic);
        const weak = present.length === 0 ? [] : await weakTopics(admin, present, durability);
        for (const w of weak) options.logger.warn({ topic: w.topic, replicationFactor: w.replicationFactor, minInsyncReplicas: w.minInsyncReplicas, wanted: durability }, `topic ${w.topic} is weaker than configured: ${w.problem}`);
        return weak;
      } finally {
        await admin.disconnect();
      }
    },
    async ping() {
      // A fresh admin without retries: a probe must say "not now" at once, not retry for seconds.
      const admin = kafka.admin({ retry: { retries: 0 } });
      try {
        await admin.connect();
        await admin.describeCluster();
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    async consumerLag(groupId, topic) {
      let lag = 0n;
      // The ends and the commits are read at once: a commit past an end read a moment earlier is no lag.
      for (const p of await port.groupOffsets(groupId, topic)) if (p.end > (p.committed ?? 0n)) lag += p.end - (p.committed ?? 0n);
      return Number(lag);
    },
    async groupOffsets(groupId, topic) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset === '-1' ? null : BigInt(p.offset)]));
        return ends.map((p) => ({ partition: p.partition, committed: done.get(p.partition) ?? null, end: BigInt(p.high) })).sort((a, b) => a.partition - b.partition);
      } finally {
        await admin.disconnect();
      }
    },
    publisher() {
      if ((options.producerClient ?? DEFAULT_PRODUCER_CLIENT) === 'platformatic') return new PlatformaticPublisher({ brokers: options.brokers, clientId: options.clientId });
      return new KafkajsPublisher(kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 3, maxRetryTime: 1000 } }));
    },
    consumer({ groupId, sessionTimeoutMs = 30_000, concurrency = 1, metadataMaxAgeMs = 60_000 }) {
      return new KafkajsBatchConsumer(
        kafka.consumer({
          groupId,
          metadataMaxAge: metadataMaxAgeMs,
          sessionTimeout: sessionTimeoutMs,
          heartbeatInterval: Math.min(3000, Math.floor(sessionTimeoutMs / 3)),
          allowAutoTopicCreation: false,
          maxBytesPerPartition: 1_048_576,
          // kafkajs restarts the consumer after a retriable crash (broker away, coordinator moved)
          // and gives up at once on an error marked not retriable: that reaches onFatal.
          retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5000 },
        }),
        kafka.admin(),
        groupId,
        options.logger,
        concurrency,
      );
    },
    async readTopic(topic, { maxRecords = Number.POSITIVE_INFINITY, timeoutMs = 30_000 } = {}) {
      const records: InRecord[] = [];
      if (maxRecords <= 0) return records;
      await port.readRange(
        topic,
        { earliest: true },
        async (batch) => {
          records.push(...batch.slice(0, maxRecords - records.length));
          return records.length < maxRecords;
        },
        { deadlineMs: timeoutMs },
      );
      return records.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
    },
    async readRange(topic, start, handler, { groupId = `traceledger-read-${randomBytes(6).toString('hex')}`, deadlineMs = 30 * 60_000 } = {}) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const ends = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, high: p.high, low: p.low }));
        let starts: Map<number, string>;
        if ('earliest' in start) {
          starts = new Map(ends.map((p) => [p.partition, p.low]));
        } else {
          const at = await admin.fetchTopicOffsetsByTimestamp(topic, start.timestampMs);
          starts = new Map(at.map((p) => [p.partition, p.offset === '-1' ? (ends.find((e) => e.partition === p.partition)?.high ?? '0') : p.offset]));
        }
        const partitions: Record<number, [string, string]> = Object.fromEntries(ends.map((e) => [e.partition, [starts.get(e.partition) ?? e.high, e.high]]));
        const pending = new Map(ends.filter((e) => BigInt(starts.get(e.partition) ?? e.high) < BigInt(e.high)).map((e) => [e.partition, BigInt(e.high)]));
        if (pending.size === 0) return { records: 0, partitions };

        const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxBytesPerPartition: 4 * 1_048_576 });
        let records = 0;
        let failure: unknown = null;
        let finish: () => void = () => undefined;
        const done = new Promise<void>((resolve) => (finish = resolve));
        await consumer.connect();
        try {
          await consumer.subscribe({ topics: [topic], fromBeginning: true });
          await consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch, heartbeat }) => {
              const end = pending.get(batch.partition);
              if (end === undefined || failure !== null) return;
              const from = BigInt(starts.get(batch.partition) ?? '0');
              const slice = batch.messages
                .filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < end)
                .map((m) => ({ topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp, headers: headersToStrings(m.headers) }));
              let more: boolean | void = true;
              try {
                if (slice.length > 0) more = await handler(slice);
              } catch (err) {
                failure = err;
                finish();
                return;
              }
              records += slice.length;
              await heartbeat();
              if (more === false) {
                pending.clear();
                finish();
                return;
              }
              if (BigInt(batch.lastOffset()) + 1n >= end) {
                pending.delete(batch.partition);
                if (pending.size === 0) finish();
              }
            },
          });
          for (const [partition] of pending) consumer.seek({ topic, partition, offset: starts.get(partition) ?? '0' });
          const timer = setTimeout(() => {
            failure = new TraceLedgerError(KafkaErrorCode.Unavailable, `could not read ${topic} to its end within ${deadlineMs} ms`, { retriable: true });
            finish();
          }, deadlineMs);
          await done;
          clearTimeout(timer);
        } finally {
          await consumer.disconnect();
          await admin.deleteGroups([groupId]).catch((err: unknown) => options.logger.debug({ err, groupId }, 'could not delete the range reader\'s consumer group'));
        }
        if (failure !== null) throw failure;
        return { records, partitions };
      } finally {
        await admin.disconnect();
      }
    },
  };
  return port;
}

class KafkajsPublisher implements Publisher {
  constructor(private readonly producer: Producer) {}

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async publish(topic: string, messages: readonly OutMessage[], timeoutMs = 10_000): Promise<void> {
    if (messages.length === 0) return;
    const send = this.producer.send({
      topic,
      acks: -1,
      timeout: timeoutMs,
      messages: messages.map((m) => ({ key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) })),
    });
    await acknowledgedWithin(send, { topic, count: messages.length, timeoutMs });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

class KafkajsBatchConsumer implements BatchConsumer {
  private fatalListeners: ((err: Error) => void)[] = [];
  private committedListeners: ((batch: { topic: string; partition: number; nextOffset: string }) => void)[] = [];
  private stopping = false;
  private topic: string | null = null;
  /** This member's partitions, from its last join; null when it is not in the group. */
  private assigned: ReadonlySet<number> | null = null;
  /** Incremented at each join: a batch that started in an earlier generation is stale. */
  private generation = 0;
  private adminConnected = false;
  /** A not-retriable error the handler threw: kafkajs gives up on it, and its wrapper drops the code. */
  private handlerFailure: Error | null = null;

  constructor(
    private readonly consumer: Consumer,
    private readonly admin: Admin,
    private readonly groupId: string,
    private readonly log: Logger,
    private readonly concurrency: number = 1,
  ) {
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const { memberAssignment } = e.payload as { memberAssignment: Record<string, number[]> };
      this.generation += 1;
      this.assigned = new Set(this.topic === null ? [] : (memberAssignment[this.topic] ?? []));
      this.log.info({ partitions: [...this.assigned], generation: this.generation }, 'joined the consumer group');
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      this.assigned = null;
      if (restart || this.stopping) {
        this.log.warn({ err: error, restart }, 'kafka consumer crashed; kafkajs restarts it');
        return;
      }
      for (const l of this.fatalListeners) l(this.handlerFailure ?? unwrapKafkajs(error));
    });
  }

  onFatal(listener: (err: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  onCommitted(listener: (batch: { topic: string; partition: number; nextOffset: string }) => void): void {
    this.committedListeners.push(listener);
  }

  async lag(): Promise<number | null> {
    const lags = await this.partitionLag();
    return lags === null ? null : lags.reduce((sum, p) => sum + p.lag, 0);
  }

  async partitionLag(): Promise<{ partition: number; lag: number }[] | null> {
    const assigned = this.assigned;
    const topic = this.topic;
    if (assigned === null || topic === null) return null;
    if (assigned.size === 0) return [];
    try {
      if (!this.adminConnected) {
        await this.admin.connect();
        this.adminConnected = true;
      }
      const [ends, committed] = await Promise.all([
        this.admin.fetchTopicOffsets(topic),
        this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] }),
      ]);
      const done = new Map((committed[0]?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)]));
      return ends
        .filter((p) => assigned.has(p.partition))
        .map((p) => ({ partition: p.partition, lag: Number(BigInt(p.high) - (done.get(p.partition) ?? BigInt(p.low))) }))
        .sort((a, b) => a.partition - b.partition);
    } catch (err) {
      this.log.debug({ err }, 'could not read the consumer lag');
      return null;
    }
  }

  async start(topic: string, handler: BatchHandler, options: { fromBeginning?: boolean } = {}): Promise<void> {
    this.topic = topic;
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.concurrency,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset, commitOffsetsIfNecessary }) => {
        if (batch.messages.length === 0 || !isRunning() || isStale()) return;
        const generation = this.generation;
        const records: InRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          timestamp: m.timestamp,
          headers: headersToStrings(m.headers),
        }));
        try {
          await handler(records, {
            topic: batch.topic,
            partition: batch.partition,
            heartbeat,
            isActive: () => isRunning() && !isStale() && this.generation === generation,
          });
        } catch (err) {
          if (err instanceof TraceLedgerError && !err.retriable) this.handlerFailure = err;
          throw err;
        }
        const last = batch.lastOffset();
        resolveOffset(last);
        const nextOffset = (BigInt(last) + 1n).toString();
        // The handler's database transaction is durable; only now may the offset move. Not for a
        // partition this member lost meanwhile (it rejoined during the batch): the broker would take
        // the commit under the new generation and could move the new owner's offset backwards.
        // That loses nothing (every record below it is folded, and the ledger makes re-reads
        // no-ops) but it re-reads work for nothing. A stale generation is refused by the broker.
        if (this.generation !== generation || !(this.assigned?.has(batch.partition) ?? false)) {
          this.log.info({ partition: batch.partition, nextOffset }, 'batch folded after this member lost the partition; not committing its offset');
          return;
        }
        // Committed through the batch's own handle, not consumer.commitOffsets: that one silently
        // skips the commit once stop() was called, so a drained last batch would be re-read.
        try {
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: nextOffset }] }] });
        } catch (err) {
          // The group rebalanced while the batch ran (stale generation, unknown member) or the
          // broker went away. kafkajs rejoins or reconnects; whoever owns the partition then reads
          // from the last committed offset, and the ledger turns the re-read batch into a no-op.
          this.log.warn({ err, partition: batch.partition, nextOffset }, 'offset commit failed; the batch will be read again');
          throw err;
        }
        for (const l of this.committedListeners) l({ topic: batch.topic, partition: batch.partition, nextOffset });
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.stop();
    await this.consumer.disconnect();
    if (this.adminConnected) await this.admin.disconnect();
  }
}

/** The error a handler threw, from under kafkajs's retry wrappers (which keep it as `cause`). */
function unwrapKafkajs(err: Error): Error {
  let e: Error = err;
  while (e.name.startsWith('KafkaJS') && e.cause instanceof Error) e = e.cause;
  return e;
}

/** Until every partition of `topics` has a leader (metadata reaches every node a moment after creation), 30 s at most. */
async function waitForLeaders(admin: Admin, topics: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (meta.length === topics.length && meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new TraceLedgerError(KafkaErrorCode.Unavailable, `topics ${topics.join(', ')} have no leader 30 s after their creation`, { retriable: true });
    await new Promise((r) => setTimeout(r, 200));
  }
}

// An enum kafkajs (CommonJS) exports in a way Node's ESM named-export detection does not see.
const { ConfigResourceTypes } = kafkajs;

/** Existing topics whose replication factor or min.insync.replicas is below `wanted`. */
async function weakTopics(admin: Admin, topics: readonly string[], wanted: TopicDurability): Promise<WeakTopic[]> {
  const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
  });
  const minIsr = new Map(
    described.resources.map((r) => {
      const v = r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      return [r.resourceName, v === undefined || v === null ? null : Number(v)] as const;
    }),
  );
  const weak: WeakTopic[] = [];
  for (const t of meta) {
    const replicationFactor = Math.min(...t.partitions.map((p) => p.replicas.length));
    const minInsyncReplicas = minIsr.get(t.name) ?? null;
    const problems = [
      ...(replicationFactor < wanted.replicationFactor ? [`replication factor ${replicationFactor} < ${wanted.replicationFactor}`] : []),
      ...(minInsyncReplicas !== null && minInsyncReplicas < wanted.minInsyncReplicas ? [`min.insync.replicas ${minInsyncReplicas} < ${wanted.minInsyncReplicas}`] : []),
    ];
    if (problems.length > 0) weak.push({ topic: t.name, replicationFactor, minInsyncReplicas, problem: problems.join(', ') });
  }
  return weak;
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
