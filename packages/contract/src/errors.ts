import { TraceLedgerError } from '@traceledger/core';

/** Codes for events rejected against contract v1 (each documented in docs/contract.md). */
export const EventErrorCode = {
  NotAnObject: 'TL_EVENT_NOT_AN_OBJECT',
  MissingField: 'TL_EVENT_MISSING_FIELD',
  UnknownField: 'TL_EVENT_UNKNOWN_FIELD',
  FieldNotForType: 'TL_EVENT_FIELD_NOT_FOR_TYPE',
  BadId: 'TL_EVENT_BAD_ID',
  BadType: 'TL_EVENT_BAD_TYPE',
  BadTime: 'TL_EVENT_BAD_TIME',
  FutureTime: 'TL_EVENT_FUTURE_TIME',
  BadTokens: 'TL_EVENT_BAD_TOKENS',
  BadCost: 'TL_EVENT_BAD_COST',
  BadStatus: 'TL_EVENT_BAD_STATUS',
  BadDuration: 'TL_EVENT_BAD_DURATION',
  BadText: 'TL_EVENT_BAD_TEXT',
  /** Over ingest's per-event size limit (MAX_EVENT_BYTES); checked before anything else. */
  TooLarge: 'TL_EVENT_TOO_LARGE',
} as const;
export type EventErrorCode = (typeof EventErrorCode)[keyof typeof EventErrorCode];

/** Codes for records on the topic that cannot be read (they go to the dead-letter topic). */
export const RecordErrorCode = {
  NotSingleObject: 'TL_RECORD_NOT_SINGLE_OBJECT',
  UnknownFingerprint: 'TL_RECORD_UNKNOWN_FINGERPRINT',
  Undecodable: 'TL_RECORD_UNDECODABLE',
  BreaksContract: 'TL_RECORD_BREAKS_CONTRACT',
} as const;

/** An event that breaks the contract; `field` names the offending field when there is one. */
export class EventRejectedError extends TraceLedgerError {
  readonly field: string | undefined;
  constructor(code: EventErrorCode, message: string, field?: string) {
    super(code, message, { statusCode: 400 });
    this.name = 'EventRejectedError';
    this.field = field;
  }
}

/**
 * A record on the topic that decodes but breaks the contract (TL_RECORD_BREAKS_CONTRACT, never
 * retriable): `field` names the offending field as in the Avro record, `rule` is the code ingest
 * would have answered a JSON event with.
 */
export class RecordRejectedError extends TraceLedgerError {
  readonly field: string;
  readonly rule: EventErrorCode;
  constructor(message: string, field: string, rule: EventErrorCode) {
    super(RecordErrorCode.BreaksContract, message);
    this.name = 'RecordRejectedError';
    this.field = field;
    this.rule = rule;
  }
}
