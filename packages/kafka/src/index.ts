export { createKafka } from './kafka.js';
export type { KafkaPort, Publisher, OutMessage, BatchConsumer, ConsumerOptions, InRecord, BatchContext, BatchHandler } from './kafka.js';
export { KafkaErrorCode } from './kafka.js';
export { readTopicRange } from './range-reader.js';
export type { RangeStart, RangeReadResult } from './range-reader.js';
