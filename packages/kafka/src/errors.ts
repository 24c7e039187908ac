import { TraceLedgerError } from '@traceledger/core';

/** Codes of the errors the Kafka port throws (as TraceLedgerError). */
export const KafkaErrorCode = {
  Unavailable: 'TL_KAFKA_UNAVAILABLE',
  /** The cluster cannot hold a topic as configured (e.g. more replicas than brokers). */
  TopicSettings: 'TL_KAFKA_TOPIC_SETTINGS',
} as const;

/**
 * Waits for `send` (a publish that resolves once acks=all acknowledged every record) at most
 * `timeoutMs`: a failure or the deadline throws TL_KAFKA_UNAVAILABLE (retriable, 503), and then
 * none of the records may be reported as accepted. A send that loses the race goes on in the
 * background: its records may still land, which at-least-once delivery and the ledger's event ids
 * allow. Both publishers keep their promise through this.
 */
export async function acknowledgedWithin(
  send: Promise<unknown>,
  what: { topic: string; count: number; timeoutMs: number },
  describe: (err: unknown) => string = (err) => (err as Error).message,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no acknowledgement within ${what.timeoutMs} ms`)), what.timeoutMs);
  });
  try {
    await Promise.race([send, timeout]);
  } catch (cause) {
    throw new TraceLedgerError(KafkaErrorCode.Unavailable, `Kafka did not acknowledge ${what.count} message(s) on ${what.topic}: ${describe(cause)}`, {
      cause,
      retriable: true,
      statusCode: 503,
    });
  } finally {
    clearTimeout(timer);
  }
}
