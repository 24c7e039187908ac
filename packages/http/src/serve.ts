import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

/**
 * Listens, and on SIGTERM or SIGINT drains: stops accepting connections, answers the requests in
 * flight, runs the app's onClose hooks (which close its pools and producers), then exits 0
 * (1 if closing failed).
 */
export async function serveUntilSignal(app: FastifyInstance, logger: Logger, address: { port: number; host: string }): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      // A request in flight keeps its keep-alive socket open after its answer, and close() waits
      // for every socket: up to Fastify's keepAliveTimeout (72 s), past any grace period. Close
      // each one as soon as it goes idle.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
      reaper.unref();
      app.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  await app.listen(address);
}
