import { BUCKETS, PERIODS } from '@traceledger/core';
import { DIMENSIONS } from './repository.js';

/**
 * Request and response schemas of the query API. Fastify validates requests with them and
 * @fastify/swagger turns them into the OpenAPI document at /docs/json.
 */

const money = { type: 'number', description: 'Exact decimal amount (the stored digits, at most 9 decimals)' } as const;
const integer = { type: 'integer' } as const;
const instant = { type: ['string', 'null'], format: 'date-time' } as const;

const rangeQs = {
  period: { type: 'string', enum: [...PERIODS], description: 'Named period of session starts; rolling (24h…90d), month to date in tz, or all' },
  from: { type: 'string', description: 'Start (inclusive): RFC 3339 time with zone, or YYYY-MM-DD = local midnight in tz. Not with period.' },
  to: { type: 'string', description: 'End (exclusive), same forms as from' },
  tz: { type: 'string', description: 'IANA time zone for dates, days and months (default UTC)' },
} as const;

const rangeOut = {
  period: { type: 'string' },
  from: instant,
  to: instant,
  tz: { type: 'string' },
} as const;

const statusCounts = {
  type: 'object',
  properties: { running: integer, success: integer, error: integer, timeout: integer, cancelled: integer },
} as const;

/** The :id of an agent or team. */
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 128 } }, required: ['id'] } as const;

const error = {
  type: 'object',
  properties: { statusCode: integer, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;
const errors = { 400: error, 404: error };

export const billingSummary = {
  tags: ['billing'],
  summary: 'Billing totals of the tenant',
  description: 'Totals over the range (default: all time); costThisMonth/costLastMonth are calendar months in tz; activeAgents counts agents with a session in the range (default: this month).',
  querystring: { type: 'object', properties: rangeQs },
  response: {
    200: {
      type: 'object',
      properties: {
        totalCost: money,
        totalTokens: integer,
        activeAgents: integer,
        costThisMonth: money,
        costLastMonth: money,
        range: { type: 'object', properties: rangeOut },
      },
    },
    ...errors,
  },
} as const;

const totalsOut = {
  totalSessions: integer,
  statusCounts,
  totalInputTokens: integer,
  totalOutputTokens: integer,
  totalCost: money,
  unpricedSessions: integer,
  unpricedTokens: { ...integer, description: 'Tokens of usage that had no reported cost and no price: not billed, never $0 silently' },
} as const;

export const platform = {
  tags: ['analytics'],
  summary: 'Totals of the whole tenant over a range (default 7d)',
  querystring: { type: 'object', properties: rangeQs },
  response: {
    200: {
      type: 'object',
      properties: {
        data: { type: 'object', properties: { ...rangeOut, ...totalsOut, successCount: integer, errorCount: integer } },
      },
    },
    ...errors,
  },
} as const;

export const scoped = (kind: 'agent' | 'team') =>
  ({
    tags: ['analytics'],
    summary: `Totals and duration statistics of one ${kind} over a range (default 30d)`,
    params: idParams,
    querystring: { type: 'object', properties: rangeQs },
    response: {
      200: {
        type: 'object',
        properties: {
          data: {
            type: 'object',
            properties: {
              [`${kind}Id`]: { type: 'string' },
              ...rangeOut,
              ...totalsOut,
              duration: {
                type: 'object',
                description: 'Over ended sessions, in ms; null when none ended',
                properties: { avgMs: { type: ['integer', 'null'] }, p50Ms: { type: ['integer', 'null'] }, p95Ms: { type: ['integer', 'null'] }, p99Ms: { type: ['integer', 'null'] } },
              },
            },
          },
        },
      },
      ...errors,
    },
  }) as const;

export const tokenTrends = {
  tags: ['analytics'],
  summary: 'One row per local day for the last N days (empty days included)',
  params: idParams,
  querystring: { type: 'object', properties: { days: { type: 'string', description: '1 to 366, default 7' }, tz: rangeQs.tz } },
  response: {
    200: {
      type: 'object',
      properties: {
        data: {
          type: 'object',
          properties: {
            agentId: { type: 'string' },
            days: integer,
            tz: { type: 'string' },
            trends: {
              type: 'array',
              items: {
                type: 'object',
                properties: { date: { type: 'string', format: 'date' }, sessions: integer, inputTokens: integer, outputTokens: integer, totalTokens: integer, cost: money },
              },
            },
          },
        },
      },
    },
    ...errors,
  },
} as const;

const seriesRow = {
  type: 'object',
  properties: {
    bucket: { type: 'string', format: 'date-time', description: 'Start of the bucket (in tz)' },
    agent: { type: ['string', 'null'] },
    team: { type: ['string', 'null'] },
    model: { type: ['string', 'null'] },
    status: { type: 'string' },
    sessions: integer,
    inputTokens: integer,
    outputTokens: integer,
    cost: money,
    unpricedTokens: integer,
  },
} as const;

const exportQs = {
  limit: { type: 'string', description: 'Rows per page, 1 to 10000 (default 1000); exports stream every page' },
  cursor: { type: 'string', description: 'nextCursor of the previous page' },
  format: { type: 'string', enum: ['json', 'csv', 'ndjson'], description: 'Or send Accept: text/csv / application/x-ndjson' },
} as const;

export const usage = {
  tags: ['analytics'],
  summary: 'Usage per time bucket, grouped and filtered by agent, team, model and status',
  description:
    'The shape a dashboard plots directly. Grouping or filtering by model counts each model\'s share of a session. top=N keeps the N groups with the highest cost. Also as CSV or NDJSON (streamed).',
  querystring: {
    type: 'object',
    properties: {
      ...rangeQs,
      bucket: { type: 'string', enum: [...BUCKETS] },
      groupBy: { type: 'string', description: `Comma-separated, any of ${DIMENSIONS.join(', ')}` },
      agent: { type: 'string', description: 'Filter: comma-separated agent ids' },
      team: { type: 'string', description: 'Filter: comma-separated team ids' },
      model: { type: 'string', description: 'Filter: comma-separated model names' },
      status: { type: 'string', description: 'Filter: comma-separated statuses' },
      top: { type: 'string', description: 'Keep the N groups with the highest cost (1 to 1000)' },
      ...exportQs,
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        data: {
          type: 'object',
          properties: {
            bucket: { type: 'string' },
            groupBy: { type: 'array', items: { type: 'string' } },
            ...rangeOut,
            rows: { type: 'array', items: seriesRow },
            nextCursor: { type: ['string', 'null'] },
          },
        },
      },
    },
    ...errors,
  },
} as const;

export const breakdown = {
  tags: ['billing'],
  summary: 'Cost per team, agent or model over a range, highest first',
  querystring: {
    type: 'object',
    required: ['by'],
    properties: { by: { type: 'string', enum: ['team', 'agent', 'model'] }, ...rangeQs, ...exportQs },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        data: {
          type: 'object',
          properties: { by: { type: 'string' }, ...rangeOut, rows: { type: 'array', items: seriesRow }, nextCursor: { type: ['string', 'null'] } },
        },
      },
    },
    ...errors,
  },
} as const;
