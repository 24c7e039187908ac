/** Codes of the errors the Kafka port throws (as TraceLedgerError). */
export const KafkaErrorCode = {
  Unavailable: 'TL_KAFKA_UNAVAILABLE',
  /** The cluster cannot hold a topic as configured (e.g. more replicas than brokers). */
  TopicSettings: 'TL_KAFKA_TOPIC_SETTINGS',
} as const;
