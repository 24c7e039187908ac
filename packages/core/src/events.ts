/** The event and session vocabulary of contract v1 (schemas/trace-event.avsc). */
export const EVENT_TYPES = ['session.started', 'llm.usage', 'tool.call', 'session.ended', 'event.voided'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Statuses a session can end with. */
export const END_STATUSES = ['success', 'error', 'timeout', 'cancelled'] as const;
export type EndStatus = (typeof END_STATUSES)[number];

/** Statuses a session row can have: `running` until an end event is folded. */
export const SESSION_STATUSES = ['running', ...END_STATUSES] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The tenant every event belongs to until API keys exist. */
export const DEFAULT_TENANT = 'default';

/**
 * One trace event as the domain sees it (decoded and validated). The tenant is set by ingest
 * from the caller's credentials, never taken from a request body.
 */
export interface TraceEvent {
  eventId: string;
  tenantId: string;
  sessionId: string;
  agentId: string | null;
  teamId: string | null;
  type: EventType;
  /** Milliseconds since the Unix epoch, UTC. */
  occurredAtMs: number;
  provider: string | null;
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  /** Cost the producer reported, in nano-units; null when it reported none. */
  costNanos: bigint | null;
  status: EndStatus | null;
  error: string | null;
  toolName: string | null;
  durationMs: number | null;
  voidsEventId: string | null;
  reason: string | null;
}

/** The fields only some event types carry, all empty: no agent, team, model, tokens, cost or status. */
export const EMPTY_EVENT_FIELDS: Readonly<Omit<TraceEvent, 'eventId' | 'tenantId' | 'sessionId' | 'type' | 'occurredAtMs'>> = Object.freeze({
  agentId: null,
  teamId: null,
  provider: null,
  model: null,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  costNanos: null,
  status: null,
  error: null,
  toolName: null,
  durationMs: null,
  voidsEventId: null,
  reason: null,
});

/** A trace event from its identity and the fields it carries; every other field is empty. */
export function traceEvent(fields: Pick<TraceEvent, 'eventId' | 'tenantId' | 'sessionId' | 'type' | 'occurredAtMs'> & Partial<TraceEvent>): TraceEvent {
  return { ...EMPTY_EVENT_FIELDS, ...fields };
}
