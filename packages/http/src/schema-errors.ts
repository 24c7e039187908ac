import type { FastifySchemaValidationError } from 'fastify/types/schema.js';

/**
 * Turns a request-schema failure into a message naming the parameter and what it allows
 * ("querystring/bucket must be one of hour, day, week, month") instead of Ajv's generic text.
 */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const e = errors[0];
  if (e === undefined) return new Error(`${dataVar} is invalid`);
  const params = e.params as { allowedValues?: unknown[]; missingProperty?: string; additionalProperty?: string };
  const where = `${dataVar}${e.instancePath}`;
  let message: string;
  if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `${where} must be one of ${params.allowedValues.join(', ')}`;
  } else if (e.keyword === 'required' && params.missingProperty) {
    message = `${where}/${params.missingProperty} is required`;
  } else if (e.keyword === 'additionalProperties' && params.additionalProperty) {
    message = `${where}/${params.additionalProperty} is not a known field`;
  } else {
    message = `${where} ${e.message ?? 'is invalid'}`;
  }
  return new Error(message);
}
