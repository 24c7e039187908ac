export { clientErrorHandler, describeError, errorHandler, notFoundHandler } from './errors.js';
export type { ErrorBody } from './errors.js';
export { Decimal, exactJsonStringify } from './exact-json.js';
export { schemaErrorFormatter } from './schema-errors.js';
export { requireScope, tenantOf } from './auth-hook.js';
export { serveUntilSignal } from './serve.js';
export { isClusterWorker, joinCluster, superviseWorkers } from './cluster.js';
export { OPERATOR_PATHS, connectionChecks, createMetricsRegistry, registerOperatorRoutes } from './operator.js';
export type { OperatorRoutesOptions, ReadinessCheck } from './operator.js';
