/** Codes of the errors the Kafka port throws (as TraceLedgerError). */
export const KafkaErrorCode = {
  Unavailable: 'TL_KAFKA_UNAVAILABLE',
} as const;
