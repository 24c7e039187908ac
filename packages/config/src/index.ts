import { TraceLedgerError } from '@traceledger/core';

/** Every setting of traceledger, parsed once at start-up from the environment. */
export interface Config {
  /** Postgres connection string. */
  databaseUrl: string;
  /**
   * Where the query service reads: a streaming replica of DATABASE_URL's database, or the primary
   * itself (DATABASE_URL, the default). Migrations always run on DATABASE_URL.
   */
  queryDatabaseUrl: string;
  /** Kafka bootstrap brokers (host:port). */
  kafkaBrokers: readonly string[];
  kafkaTopic: string;
  /** Where undecodable or contract-breaking records go, with the reason. */
  kafkaDeadLetterTopic: string;
  kafkaConsumerGroup: string;
  /** Partitions given to the topics when traceledger creates them. */
  kafkaTopicPartitions: number;
  /** Replicas of each partition of the topics traceledger creates (1 for one broker; 3 in production). */
  kafkaReplicationFactor: number;
  /** min.insync.replicas of the topics traceledger creates: acks=all needs this many in sync (2 in production). */
  kafkaMinInsyncReplicas: number;
  /** The Kafka client that publishes records (ingest, backfill, replay's dead letters); consumers always use kafkajs. */
  kafkaProducerClient: 'kafkajs' | 'platformatic';
  ingestPort: number;
  queryPort: number;
  /** Port of the consumer's small HTTP server (probes and metrics); 0 picks a free one. */
  consumerPort: number;
  /** Address the HTTP services bind to. */
  host: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Largest request body ingest accepts, in bytes. */
  maxBodyBytes: number;
  /** Most events in one batch request. */
  maxBatchEvents: number;
  /** Seconds a client should wait before retrying when Kafka cannot take events. */
  retryAfterSeconds: number;
  /** Largest single event of a batch, measured as compact JSON, in bytes; a larger one is rejected (TL_EVENT_TOO_LARGE). */
  maxEventBytes: number;
  /** Requests per second each API key may make to ingest (a token bucket per key, per process); 0: no limit. */
  rateLimitRequestsPerSecond: number;
  /** Events per second each API key may post to ingest; 0: no limit. */
  rateLimitEventsPerSecond: number;
  /** How many seconds' worth of its rates a key may spend at once (the bucket size), in seconds. */
  rateLimitBurstSeconds: number;
  /** Time a client has to send a whole request, headers and body, in ms; a slower one gets 408. */
  ingestRequestTimeoutMs: number;
  /** A connection on which nothing moves for this long is closed, in ms. */
  ingestIdleTimeoutMs: number;
  /** Ingest processes sharing INGEST_PORT (node:cluster); 1: the process serves alone. */
  ingestProcesses: number;
  /** How long ingest keeps the answer to a request with an Idempotency-Key and replays it, in hours. */
  idempotencyTtlHours: number;
  /** How long ingest remembers the spans of an OTLP trace (to count usage once across requests), in hours. */
  otelSpanRetentionHours: number;
  /** Apply migrations when a service starts (dev convenience). */
  migrateOnStart: boolean;
  /** Row-security role the query service reads as (migration 0005); null (QUERY_DB_ROLE=none): the connection's own. */
  queryDbRole: string | null;
  /** `keys`: every request needs an API key; `none`: one tenant (DEFAULT_TENANT), no keys (local use only). */
  authMode: 'keys' | 'none';
  /** Consumer group session: without a heartbeat for this long a member loses its partitions, in ms. */
  kafkaSessionTimeoutMs: number;
  /** How often a consumer re-reads the topic's metadata, in ms: partitions added to the topic are folded within about this long. */
  kafkaMetadataMaxAgeMs: number;
  /** The consumer exits when no batch completes for this long while records wait, in ms; 0: never. */
  consumerWatchdogMs: number;
  /** Partitions one consumer process folds at once, each batch in its own transaction. */
  consumerConcurrency: number;
  /**
   * Days after a month ends before `traceledger ledger archive` may archive its ledger partition:
   * at least the topic's retention plus the longest a producer may retry (an archived event sent
   * again counts again).
   */
  ledgerDedupeWindowDays: number;
  /** How long a service may take to drain on SIGTERM (or to stop after a fatal error) before it exits anyway, in ms. */
  shutdownTimeoutMs: number;
  /** The price-book folder (`*.json` files) the consumer and `reprice` store; null: the repository's prices/. */
  pricesDir: string | null;
  /** Fault and history tests only: the consumer holds each fold's transaction this long, in ms, just before COMMIT. */
  testHoldBeforeCommitMs: number | null;
  /** Fault tests only: the consumer SIGKILLs itself after this many database commits, before the offset commit. */
  testCrashAfterDbCommit: number | null;
  /** Fault tests only: the consumer holds its `batch`-th batch for `ms` without heartbeats. */
  testStallBatch: { batch: number; ms: number } | null;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Thrown when a variable has a value the service cannot use; names the variable. */
export class ConfigError extends TraceLedgerError {
  constructor(message: string) {
    super('TL_CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads and validates the configuration from `env` (default: process.env) and returns it frozen.
 * Throws ConfigError naming the first variable with a bad value and what it expects.
 */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const topic = str(env, 'KAFKA_TOPIC', 'trace-events', /^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name ([A-Za-z0-9._-], at most 249 characters)');
  const databaseUrl = url(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/traceledger');
  const config: Config = {
    databaseUrl,
    queryDatabaseUrl: raw(env, 'QUERY_DATABASE_URL') === undefined ? databaseUrl : url(env, 'QUERY_DATABASE_URL', databaseUrl),
    kafkaBrokers: brokers(env, 'KAFKA_BROKERS', '127.0.0.1:9092'),
    kafkaTopic: topic,
    kafkaDeadLetterTopic: str(env, 'KAFKA_DLQ_TOPIC', `${topic}.dlq`, /^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'),
    kafkaConsumerGroup: str(env, 'KAFKA_CONSUMER_GROUP', 'traceledger-consumer', /^[A-Za-z0-9._-]{1,249}$/, 'a consumer group id'),
    kafkaTopicPartitions: int(env, 'KAFKA_TOPIC_PARTITIONS', 3, 1, 1000),
    kafkaReplicationFactor: int(env, 'KAFKA_REPLICATION_FACTOR', 1, 1, 32),
    kafkaMinInsyncReplicas: int(env, 'KAFKA_MIN_INSYNC_REPLICAS', 1, 1, 32),
    kafkaProducerClient: oneOf(env, 'KAFKA_PRODUCER_CLIENT', 'platformatic', ['kafkajs', 'platformatic'] as const),
    ingestPort: int(env, 'INGEST_PORT', 4001, 0, 65535),
    queryPort: int(env, 'QUERY_PORT', 4002, 0, 65535),
    consumerPort: int(env, 'CONSUMER_PORT', 4003, 0, 65535),
    host: str(env, 'HOST', '127.0.0.1', /^\S+$/, 'an address to bind to'),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 1_048_576, 1024, 64 * 1_048_576),
    maxBatchEvents: int(env, 'MAX_BATCH_EVENTS', 10_000, 1, 100_000),
    retryAfterSeconds: int(env, 'RETRY_AFTER_SECONDS', 5, 1, 3600),
    maxEventBytes: int(env, 'MAX_EVENT_BYTES', 32_768, 256, 64 * 1_048_576),
    rateLimitRequestsPerSecond: int(env, 'RATE_LIMIT_REQUESTS_PER_SECOND', 100, 0, 1_000_000),
    rateLimitEventsPerSecond: int(env, 'RATE_LIMIT_EVENTS_PER_SECOND', 50_000, 0, 100_000_000),
    rateLimitBurstSeconds: int(env, 'RATE_LIMIT_BURST_SECONDS', 2, 1, 3600),
    ingestRequestTimeoutMs: int(env, 'INGEST_REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    ingestIdleTimeoutMs: int(env, 'INGEST_IDLE_TIMEOUT_MS', 60_000, 1000, 3_600_000),
    ingestProcesses: int(env, 'INGEST_PROCESSES', 1, 1, 64),
    idempotencyTtlHours: int(env, 'IDEMPOTENCY_TTL_HOURS', 24, 1, 720),
    otelSpanRetentionHours: int(env, 'OTEL_SPAN_RETENTION_HOURS', 168, 1, 8760),
    migrateOnStart: bool(env, 'MIGRATE_ON_START', true),
    queryDbRole: nullIfNone(str(env, 'QUERY_DB_ROLE', 'traceledger_query', /^[a-z_][a-z0-9_]{0,62}$/, 'a Postgres role name, or none')),
    authMode: oneOf(env, 'AUTH_MODE', 'keys', ['keys', 'none'] as const),
    kafkaSessionTimeoutMs: int(env, 'KAFKA_SESSION_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    kafkaMetadataMaxAgeMs: int(env, 'KAFKA_METADATA_MAX_AGE_MS', 60_000, 1000, 3_600_000),
    consumerWatchdogMs: int(env, 'CONSUMER_WATCHDOG_MS', 300_000, 0, 86_400_000),
    consumerConcurrency: int(env, 'CONSUMER_CONCURRENCY', 3, 1, 64),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 30_000, 1000, 600_000),
    ledgerDedupeWindowDays: int(env, 'LEDGER_DEDUPE_WINDOW_DAYS', 35, 1, 3650),
    pricesDir: raw(env, 'PRICES_DIR') ?? null,
    testHoldBeforeCommitMs: optionalInt(env, 'TL_TEST_HOLD_BEFORE_COMMIT_MS', 1, 600_000),
    testCrashAfterDbCommit: optionalInt(env, 'TL_TEST_CRASH_AFTER_DB_COMMIT', 1, 1_000_000),
    testStallBatch: stallSpec(env, 'TL_TEST_STALL_BATCH'),
  };
  if (config.kafkaMinInsyncReplicas > config.kafkaReplicationFactor) {
    throw new ConfigError(
      `KAFKA_MIN_INSYNC_REPLICAS=${config.kafkaMinInsyncReplicas} is invalid: it must not exceed KAFKA_REPLICATION_FACTOR=${config.kafkaReplicationFactor} (a partition never has more replicas in sync than it has replicas)`,
    );
  }
  return Object.freeze(config);
}

function nullIfNone(v: string): string | null {
  return v === 'none' ? null : v;
}

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function str(env: Env, name: string, fallback: string, re: RegExp, expected: string): string {
  const v = raw(env, name) ?? fallback;
  if (!re.test(v)) throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected ${expected}`);
  return v;
}

function url(env: Env, name: string, fallback: string): string {
  const v = raw(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name} is not a URL: expected postgres://user@host:port/database`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(`${name} must start with postgres:// or postgresql://, got ${parsed.protocol}//`);
  }
  return v;
}

function brokers(env: Env, name: string, fallback: string): string[] {
  const v = raw(env, name) ?? fallback;
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const b of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b) || Number(b.split(':').pop()) > 65535) {
      throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected host:port[,host:port...], "${b}" is not`);
    }
  }
  if (list.length === 0) throw new ConfigError(`${name} is empty: expected host:port[,host:port...]`);
  return list;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

function optionalInt(env: Env, name: string, min: number, max: number): number | null {
  return raw(env, name) === undefined ? null : int(env, name, min, min, max);
}

function stallSpec(env: Env, name: string): { batch: number; ms: number } | null {
  const v = raw(env, name);
  if (v === undefined) return null;
  const m = /^(\d{1,6}):(\d{1,7})$/.exec(v);
  if (!m || Number(m[1]) < 1) throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected <batch number from 1>:<milliseconds>, e.g. 3:9000`);
  return { batch: Number(m[1]), ms: Number(m[2]) };
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  if (['1', 'true', 'yes'].includes(v.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(v.toLowerCase())) return false;
  throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected true or false`);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const v = raw(env, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/** The durability of the topics traceledger creates and checks, as the Kafka port takes it. */
export function kafkaDurability(config: Pick<Config, 'kafkaReplicationFactor' | 'kafkaMinInsyncReplicas'>): { replicationFactor: number; minInsyncReplicas: number } {
  return { replicationFactor: config.kafkaReplicationFactor, minInsyncReplicas: config.kafkaMinInsyncReplicas };
}
