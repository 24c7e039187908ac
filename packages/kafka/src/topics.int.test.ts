import kafkajs, { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { createKafka, type TopicDurability } from './kafka.js';

// Topic durability from configuration (KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS): topics
// are created with it, an existing weaker topic is reported, and a cluster that cannot hold a
// topic as asked is refused with a coded error. On the suite's single broker.
const { ConfigResourceTypes } = kafkajs;
const brokers = inject('kafkaBrokers');
const name = (what: string) => `tl-test-${inject('runId')}-${what}-${Math.random().toString(36).slice(2, 8)}`;

function port(durability: TopicDurability) {
  const warnings: { topic?: string; msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as { topic?: string; msg: string }) });
  return { kafka: createKafka({ brokers, clientId: 'tl-test-durability', logger, durability }), warnings };
}

async function minInsync(topic: string): Promise<string | undefined> {
  const admin = new Kafka({ clientId: 'tl-test-durability-check', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }] });
    return resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
  } finally {
    await admin.disconnect();
  }
}

describe('topic durability', () => {
  it('creates topics with the configured replication factor and min.insync.replicas', async () => {
    const topic = name('isr2');
    const { kafka } = port({ replicationFactor: 1, minInsyncReplicas: 2 });
    expect(await kafka.ensureTopics([{ topic, partitions: 1 }])).toEqual([]);
    expect(await minInsync(topic)).toBe('2');
    // Asked again with the same settings: nothing to report.
    expect(await kafka.ensureTopics([{ topic, partitions: 1 }])).toEqual([]);
  });

  it('reports and logs an existing topic weaker than configured, and leaves it as it is', async () => {
    const topic = name('weak');
    expect(await port({ replicationFactor: 1, minInsyncReplicas: 1 }).kafka.ensureTopics([{ topic, partitions: 2 }])).toEqual([]);

    const stricter = port({ replicationFactor: 1, minInsyncReplicas: 2 });
    expect(await stricter.kafka.ensureTopics([{ topic, partitions: 2 }])).toEqual([{ topic, replicationFactor: 1, minInsyncReplicas: 1, problem: 'min.insync.replicas 1 < 2' }]);
    expect(stricter.warnings.map((w) => w.msg)).toEqual([`topic ${topic} is weaker than configured: min.insync.replicas 1 < 2`]);

    const production = port({ replicationFactor: 3, minInsyncReplicas: 2 });
    const [weak] = await production.kafka.ensureTopics([{ topic, partitions: 2 }]);
    expect(weak?.problem).toBe('replication factor 1 < 3, min.insync.replicas 1 < 2');
    expect(await minInsync(topic)).toBe('1');
  });

  it('refuses to create a topic with more replicas than the cluster has brokers, naming the setting', async () => {
    const topic = name('rf3');
    const { kafka } = port({ replicationFactor: 3, minInsyncReplicas: 2 });
    const err = await kafka.ensureTopics([{ topic, partitions: 1 }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TL_KAFKA_TOPIC_SETTINGS' });
    expect((err as Error).message).toContain('replication factor 3');
    expect((err as Error).message).toContain('1 broker(s)');
    expect((err as Error).message).toContain('KAFKA_REPLICATION_FACTOR');
  });
});
