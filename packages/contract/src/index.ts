export { EventCodec, SCHEMAS_DIR, CURRENT_SCHEMA_FILE, parseSchema, schemaFingerprint } from './codec.js';
export type { DecodedEvent } from './codec.js';
export { crc64Avro } from './crc64.js';
export { EventErrorCode, RecordErrorCode, EventRejectedError } from './errors.js';
export { parseEvent, parseTime, LIMITS } from './validate.js';
export { jsonByteLength } from './json-size.js';
export { legacySummaryToEvents, LEGACY_EVENT_PREFIX } from './legacy.js';
export type { LegacySummary } from './legacy.js';
