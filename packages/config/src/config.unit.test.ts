import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig', () => {
  it('has a working default for every setting', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/traceledger',
      queryDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/traceledger',
      kafkaBrokers: ['127.0.0.1:9092'],
      kafkaTopic: 'trace-events',
      kafkaDeadLetterTopic: 'trace-events.dlq',
      kafkaConsumerGroup: 'traceledger-consumer',
      kafkaTopicPartitions: 3,
      kafkaMetadataMaxAgeMs: 60_000,
      kafkaReplicationFactor: 1,
      kafkaMinInsyncReplicas: 1,
      kafkaProducerClient: 'platformatic',
      ingestPort: 4001,
      queryPort: 4002,
      consumerPort: 4003,
      host: '127.0.0.1',
      logLevel: 'info',
      maxBodyBytes: 1_048_576,
      maxBatchEvents: 10_000,
      retryAfterSeconds: 5,
      maxEventBytes: 32_768,
      rateLimitRequestsPerSecond: 100,
      rateLimitEventsPerSecond: 50_000,
      rateLimitBurstSeconds: 2,
      ingestRequestTimeoutMs: 30_000,
      ingestIdleTimeoutMs: 60_000,
      ingestProcesses: 1,
      idempotencyTtlHours: 24,
      otelSpanRetentionHours: 168,
      migrateOnStart: true,
      queryDbRole: 'traceledger_query',
      authMode: 'keys',
      kafkaSessionTimeoutMs: 30_000,
      consumerWatchdogMs: 300_000,
      consumerConcurrency: 3,
      shutdownTimeoutMs: 30_000,
      ledgerDedupeWindowDays: 35,
      pricesDir: null,
      testHoldBeforeCommitMs: null,
      testCrashAfterDbCommit: null,
      testStallBatch: null,
    });
  });

  it('reads the consumer fault settings and test hooks', () => {
    const config = loadConfig({ KAFKA_SESSION_TIMEOUT_MS: '6000', CONSUMER_WATCHDOG_MS: '0', TL_TEST_CRASH_AFTER_DB_COMMIT: '3', TL_TEST_STALL_BATCH: '2:9000', TL_TEST_HOLD_BEFORE_COMMIT_MS: '250' });
    expect(config).toMatchObject({ kafkaSessionTimeoutMs: 6000, consumerWatchdogMs: 0, testCrashAfterDbCommit: 3, testStallBatch: { batch: 2, ms: 9000 }, testHoldBeforeCommitMs: 250 });
    expect(() => loadConfig({ TL_TEST_HOLD_BEFORE_COMMIT_MS: '0' })).toThrow(/TL_TEST_HOLD_BEFORE_COMMIT_MS/);
  });

  it('reads the query service from QUERY_DATABASE_URL when given, else from DATABASE_URL', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://p@primary:5432/tl' }).queryDatabaseUrl).toBe('postgres://p@primary:5432/tl');
    expect(loadConfig({ DATABASE_URL: 'postgres://p@primary:5432/tl', QUERY_DATABASE_URL: 'postgres://p@replica:5433/tl' }).queryDatabaseUrl).toBe('postgres://p@replica:5433/tl');
    expect(configError({ QUERY_DATABASE_URL: 'mysql://replica/tl' }).message).toBe('QUERY_DATABASE_URL must start with postgres:// or postgresql://, got mysql://');
  });

  it('reads the topic durability and refuses more in-sync replicas than replicas', () => {
    const c = loadConfig({ KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' });
    expect([c.kafkaReplicationFactor, c.kafkaMinInsyncReplicas]).toEqual([3, 2]);
    expect(configError({ KAFKA_MIN_INSYNC_REPLICAS: '2' }).message).toBe(
      'KAFKA_MIN_INSYNC_REPLICAS=2 is invalid: it must not exceed KAFKA_REPLICATION_FACTOR=1 (a partition never has more replicas in sync than it has replicas)',
    );
    expect(configError({ KAFKA_REPLICATION_FACTOR: '0' }).message).toContain('KAFKA_REPLICATION_FACTOR="0" is invalid');
  });

  it('reads the producer client and refuses an unknown one', () => {
    expect(loadConfig({ KAFKA_PRODUCER_CLIENT: 'kafkajs' }).kafkaProducerClient).toBe('kafkajs');
    expect(configError({ KAFKA_PRODUCER_CLIENT: 'librdkafka' }).message).toBe('KAFKA_PRODUCER_CLIENT="librdkafka" is invalid: expected one of kafkajs, platformatic');
  });

  it('reads the price-book folder', () => {
    expect(loadConfig({ PRICES_DIR: '/srv/prices' }).pricesDir).toBe('/srv/prices');
  });

  it('reads the ingest limits, and 0 turns a rate limit off', () => {
    const config = loadConfig({ MAX_EVENT_BYTES: '4096', RATE_LIMIT_REQUESTS_PER_SECOND: '0', RATE_LIMIT_EVENTS_PER_SECOND: '1000', INGEST_REQUEST_TIMEOUT_MS: '5000', IDEMPOTENCY_TTL_HOURS: '48' });
    expect(config).toMatchObject({ maxEventBytes: 4096, rateLimitRequestsPerSecond: 0, rateLimitEventsPerSecond: 1000, ingestRequestTimeoutMs: 5000, idempotencyTtlHours: 48 });
  });

  it('turns off the row-security role with QUERY_DB_ROLE=none, and keys with AUTH_MODE=none', () => {
    expect(loadConfig({ QUERY_DB_ROLE: 'none' }).queryDbRole).toBeNull();
    expect(loadConfig({ AUTH_MODE: 'none' }).authMode).toBe('none');
    expect(() => loadConfig({ AUTH_MODE: 'off' })).toThrow(/AUTH_MODE/);
    expect(() => loadConfig({ QUERY_DB_ROLE: 'Robert; DROP' })).toThrow(/QUERY_DB_ROLE/);
  });

  it('reads only the env it is given, treats blank as unset, and returns a frozen object', () => {
    const config = loadConfig({ INGEST_PORT: '  ', LOG_LEVEL: '' });
    expect(config.ingestPort).toBe(4001);
    expect(config.logLevel).toBe('info');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses the values it is given', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://app:secret@db.internal:6543/billing',
      KAFKA_BROKERS: ' kafka-1:9092, kafka-2:9093 ,',
      KAFKA_TOPIC: 'tl.events-v1',
      INGEST_PORT: '0',
      QUERY_PORT: '65535',
      CONSUMER_PORT: '9400',
      LOG_LEVEL: 'debug',
      MIGRATE_ON_START: 'no',
      MAX_BATCH_EVENTS: '500',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgresql://app:secret@db.internal:6543/billing',
      kafkaBrokers: ['kafka-1:9092', 'kafka-2:9093'],
      kafkaTopic: 'tl.events-v1',
      kafkaDeadLetterTopic: 'tl.events-v1.dlq',
      ingestPort: 0,
      queryPort: 65535,
      consumerPort: 9400,
      logLevel: 'debug',
      migrateOnStart: false,
      maxBatchEvents: 500,
    });
    expect(loadConfig({ MIGRATE_ON_START: 'TRUE' }).migrateOnStart).toBe(true);
  });

  it.each([
    ['INGEST_PORT', '70000'],
    ['INGEST_PORT', 'http'],
    ['INGEST_PORT', '-1'],
    ['INGEST_PORT', '80.5'],
    ['QUERY_PORT', '65536'],
    ['CONSUMER_PORT', '-4'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://root@127.0.0.1:3306/traceledger'],
    ['KAFKA_BROKERS', 'localhost'],
    ['KAFKA_BROKERS', 'kafka-1:9092,kafka-2'],
    ['KAFKA_BROKERS', 'kafka-1:99999'],
    ['KAFKA_BROKERS', ', ,'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'INFO'],
    ['KAFKA_TOPIC', 'trace events'],
    ['MAX_BATCH_EVENTS', '0'],
    ['MIGRATE_ON_START', 'maybe'],
    ['MAX_EVENT_BYTES', '100'],
    ['RATE_LIMIT_REQUESTS_PER_SECOND', '1.5'],
    ['RATE_LIMIT_BURST_SECONDS', '0'],
    ['INGEST_REQUEST_TIMEOUT_MS', '10'],
    ['IDEMPOTENCY_TTL_HOURS', '0'],
    ['KAFKA_SESSION_TIMEOUT_MS', '500'],
    ['CONSUMER_WATCHDOG_MS', '-1'],
    ['SHUTDOWN_TIMEOUT_MS', 'soon'],
    ['TL_TEST_CRASH_AFTER_DB_COMMIT', '0'],
    ['TL_TEST_STALL_BATCH', '9000'],
    ['TL_TEST_STALL_BATCH', '0:100'],
  ])('refuses %s=%j with a ConfigError naming the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.code).toBe('TL_CONFIG_INVALID');
    expect(err.message).toContain(name);
    expect(err.message).toMatch(/expected|must/);
  });

  it('does not repeat a database password in its error', () => {
    const err = configError({ DATABASE_URL: 'mysql://app:hunter2@db.internal/billing' });
    expect(err.message).toContain('DATABASE_URL');
    expect(err.message).not.toContain('hunter2');
  });
});
