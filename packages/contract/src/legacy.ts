import { END_STATUSES, SESSION_STATUSES, type TraceEvent } from '@traceledger/core';
import { EventErrorCode, EventRejectedError } from './errors.js';
import { LIMITS, parseEvent, parseTime } from './validate.js';

/**
 * The old platform's session summary, accepted at `POST /api/billing/ingest` so existing
 * producers keep working: one finished (or still running) session in one request.
 */
export interface LegacySummary {
  sessionId: string;
  agentId: string;
  teamId?: string | null;
  startedAt: string;
  endedAt?: string | null;
  durationMs?: number | null;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cost?: number | string | null;
  model?: string | null;
}

/** Prefix of every event id made from a legacy summary. */
export const LEGACY_EVENT_PREFIX = 'legacy:';

/**
 * Turns a legacy summary into contract v1 events with ids derived from the session id
 * (`legacy:<sessionId>:started|usage|ended`), so posting the same summary twice counts once.
 * A summary is final: a later summary for the same session id does not add to the first.
 */
export function legacySummaryToEvents(raw: LegacySummary, tenantId: string, nowMs: number): TraceEvent[] {
  const status = raw.status;
  if (!(SESSION_STATUSES as readonly string[]).includes(status)) {
    throw new EventRejectedError(EventErrorCode.BadStatus, `status "${status}" is not one of ${SESSION_STATUSES.join(', ')}`, 'status');
  }
  const startedAtMs = parseTime(raw.startedAt, nowMs, 'startedAt');
  let endedAt: string | null = null;
  if (raw.endedAt !== undefined && raw.endedAt !== null) {
    const endedAtMs = parseTime(raw.endedAt, nowMs, 'endedAt');
    if (endedAtMs < startedAtMs) {
      throw new EventRejectedError(EventErrorCode.BadTime, 'endedAt is before startedAt', 'endedAt');
    }
    endedAt = raw.endedAt;
  } else if (raw.durationMs !== undefined && raw.durationMs !== null) {
    // Bounded before the arithmetic: a huge value would make an invalid Date, and toISOString throws.
    if (!Number.isSafeInteger(raw.durationMs) || raw.durationMs < 0 || raw.durationMs > LIMITS.maxDurationMs) {
      throw new EventRejectedError(EventErrorCode.BadDuration, `durationMs must be a whole number from 0 to ${LIMITS.maxDurationMs}`, 'durationMs');
    }
    endedAt = new Date(startedAtMs + raw.durationMs).toISOString();
  }
  if (status !== 'running' && endedAt === null) endedAt = raw.startedAt;
  const base = { session_id: raw.sessionId, agent_id: raw.agentId, team_id: raw.teamId ?? null };
  const id = (suffix: string): string => `${LEGACY_EVENT_PREFIX}${raw.sessionId}:${suffix}`;
  const events: TraceEvent[] = [
    parseEvent({ ...base, event_id: id('started'), type: 'session.started', occurred_at: raw.startedAt }, tenantId, nowMs),
    parseEvent(
      {
        ...base,
        event_id: id('usage'),
        type: 'llm.usage',
        occurred_at: endedAt ?? raw.startedAt,
        model: raw.model ?? null,
        input_tokens: raw.inputTokens,
        output_tokens: raw.outputTokens,
        cost: raw.cost ?? null,
      },
      tenantId,
      nowMs,
    ),
  ];
  if ((END_STATUSES as readonly string[]).includes(status)) {
    events.push(
      parseEvent({ ...base, event_id: id('ended'), type: 'session.ended', occurred_at: endedAt, status }, tenantId, nowMs),
    );
  }
  return events;
}
