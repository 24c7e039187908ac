export { createKafka } from './kafka.js';
export type { KafkaPort, Publisher, OutMessage, BatchConsumer, InRecord, BatchContext, BatchHandler } from './kafka.js';
export { KafkaErrorCode } from './kafka.js';
