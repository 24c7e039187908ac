export { createKafka } from './kafka.js';
export type { KafkaPort, ProducerClient, Publisher, OutMessage, BatchConsumer, ConsumerOptions, InRecord, BatchContext, BatchHandler } from './kafka.js';
export { KafkaErrorCode } from './kafka.js';
export type { RangeStart, RangeReadResult } from './kafka.js';
