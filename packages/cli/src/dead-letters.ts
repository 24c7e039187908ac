import { parseArgs } from 'node:util';
import { HEADER, describeDeadLetter, redriveRecord, type DeadLetterInfo } from '@traceledger/contract';
import type { InRecord, KafkaPort, OutMessage } from '@traceledger/kafka';
import { UsageError, type Output } from './output.js';

export const DEAD_LETTERS_HELP = `traceledger dead-letters: records the consumer could not read, and re-driving them

  traceledger dead-letters list [--limit N]
      Prints the dead letters, oldest first (default: the first 100): partition:offset in the
      dead-letter topic, code, source topic/partition/offset, key and reason.
  traceledger dead-letters redrive (--offset P:O [--offset P:O ...] | --code CODE [--code CODE ...]) [--dry-run]
      Publishes the original bytes of the chosen dead letters to the main topic again, keyed as
      before, with their original headers (a record of a backfill stays in its backfill) and in
      their order, after the cause was fixed (e.g. the schema of a new contract version added to
      schemas/ and the consumer restarted). Prints what it re-drove.
      Re-driving twice is harmless: the fold counts each event id once. A record that still
      cannot be read comes back to the dead-letter topic as a new dead letter.

Topics come from KAFKA_TOPIC and KAFKA_DLQ_TOPIC, the brokers from KAFKA_BROKERS.`;

/** One dead letter as the consumer wrote it (the wire format of packages/contract/src/wire.ts). */
export type DeadLetter = DeadLetterInfo;

/** `traceledger dead-letters …` */
export async function deadLettersCommand(kafka: KafkaPort, topics: { topic: string; deadLetterTopic: string }, args: string[], out: Output): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { limit: { type: 'string' } } });
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number from 1, got "${values.limit}"`, DEAD_LETTERS_HELP);
    // One more than asked, to say whether there are more.
    const records = await kafka.readTopic(topics.deadLetterTopic, { maxRecords: limit + 1 });
    const letters = records.slice(0, limit).map(describe);
    const more = records.length > limit;
    out.result({ topic: topics.deadLetterTopic, deadLetters: letters, more }, [
      ...letters.map(
        (d) =>
          `${d.partition}:${d.offset}\t${d.code}\tfrom ${d.sourceTopic ?? '?'}/${d.sourcePartition ?? '?'}/${d.sourceOffset ?? '?'}\tkey ${d.key === null ? '(none)' : JSON.stringify(d.key)}\t${d.reason}`,
      ),
      letters.length === 0 ? `no dead letters in ${topics.deadLetterTopic}` : `${letters.length} dead letter(s) in ${topics.deadLetterTopic}${more ? `; more after these (--limit ${limit * 10})` : ''}`,
    ]);
    return;
  }
  if (sub === 'redrive') {
    const { values } = parseArgs({ args: rest, options: { offset: { type: 'string', multiple: true }, code: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean' } } });
    const offsets = (values.offset ?? []).map(parseOffset);
    const codes = new Set(values.code ?? []);
    if ((offsets.length === 0) === (codes.size === 0)) throw new UsageError('redrive needs --offset P:O (one or more) or --code CODE (one or more), not both', DEAD_LETTERS_HELP);
    const records = await kafka.readTopic(topics.deadLetterTopic);
    let chosen: InRecord[];
    if (offsets.length > 0) {
      const wanted = new Set(offsets.map((o) => `${o.partition}:${o.offset}`));
      chosen = records.filter((r) => wanted.has(`${r.partition}:${r.offset}`));
      const found = new Set(chosen.map((r) => `${r.partition}:${r.offset}`));
      const missing = [...wanted].filter((w) => !found.has(w));
      // All or nothing: a typo must not leave a half-done re-drive.
      if (missing.length > 0) throw new UsageError(`no dead letter at ${missing.join(', ')} in ${topics.deadLetterTopic}; nothing was re-driven`, DEAD_LETTERS_HELP);
    } else {
      chosen = records.filter((r) => codes.has(r.headers[HEADER.dlqCode] ?? ''));
    }
    // An empty value (a tombstone) has nothing to fold.
    const skipped = chosen.filter((r) => !hasValue(r));
    const redriven = chosen.filter(hasValue);
    const dryRun = values['dry-run'] === true;
    if (!dryRun && redriven.length > 0) {
      const messages: OutMessage[] = redriven.map((r) => redriveRecord(r));
      const publisher = kafka.publisher();
      await publisher.connect();
      try {
        await publisher.publish(topics.topic, messages);
      } finally {
        await publisher.disconnect();
      }
    }
    const described = redriven.map(describe);
    out.result({ dryRun, topic: topics.topic, redriven: described, skipped: skipped.map(describe) }, [
      ...described.map((d) => `${dryRun ? 'would re-drive' : 're-drove'} ${d.partition}:${d.offset}\t${d.code}\tkey ${d.key === null ? '(none)' : JSON.stringify(d.key)}\t${d.bytes} bytes -> ${topics.topic}`),
      ...skipped.map((r) => `skipped ${r.partition}:${r.offset}: no value to re-drive`),
      `${dryRun ? 'dry run: would re-drive' : 're-drove'} ${described.length} dead letter(s) to ${topics.topic}${skipped.length > 0 ? `, skipped ${skipped.length}` : ''}`,
    ]);
    return;
  }
  throw new UsageError(sub === undefined || sub === '--help' ? '' : `unknown dead-letters command "${sub}"`, DEAD_LETTERS_HELP);
}

function hasValue(r: InRecord): r is InRecord & { value: Buffer } {
  return r.value !== null && r.value.length > 0;
}

function parseOffset(value: string): { partition: number; offset: string } {
  const m = /^(\d{1,9}):(\d{1,19})$/.exec(value);
  if (!m?.[1] || !m[2]) throw new UsageError(`--offset "${value}" is not PARTITION:OFFSET (e.g. 0:42)`, DEAD_LETTERS_HELP);
  return { partition: Number(m[1]), offset: BigInt(m[2]).toString() };
}

function describe(r: InRecord): DeadLetter {
  return describeDeadLetter(r);
}
