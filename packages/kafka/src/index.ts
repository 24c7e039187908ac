export { createKafka } from './kafka.js';
export type { KafkaPort, ProducerClient, Publisher, OutMessage, BatchConsumer, ConsumerOptions, InRecord, BatchContext, BatchHandler } from './kafka.js';
export { KafkaErrorCode } from './kafka.js';
export type { RangeStart, RangeReadResult, TopicDurability, WeakTopic } from './kafka.js';
