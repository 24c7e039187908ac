import { createServer, connect, type Server, type Socket } from 'node:net';
import { registerCleanup } from '../cleanup.js';

const API_PRODUCE = 0;
const API_METADATA = 3;
const API_FIND_COORDINATOR = 10;

export interface KafkaProxyStats {
  /** Produce requests forwarded to the broker. */
  produceRequests: number;
  /** Produce responses thrown away (their connection closed instead). */
  droppedResponses: number;
  /** Broker addresses rewritten in Metadata and FindCoordinator answers. */
  rewrites: number;
}

/** A loopback TCP proxy in front of one Kafka broker that can lose the broker's answers. */
export interface KafkaProxy {
  readonly port: number;
  /** Bootstrap address for clients that should go through the proxy. */
  readonly brokers: string[];
  readonly stats: KafkaProxyStats;
  /**
   * Forwards the next `n` Produce requests, lets the broker append and answer, then throws each
   * answer away and closes the client's connection: the write is in the log, the producer never
   * hears so, and retries.
   */
  dropProduceResponses(n: number): void;
  /** Holds every Produce answer for `ms` before passing it on (0: no delay). */
  delayProduceResponses(ms: number): void;
  close(): Promise<void>;
}

/**
 * Starts the proxy. It reads the Kafka framing (int32 size, then api key, version and correlation
 * id in a request; correlation id in a response), so it knows which answer belongs to which
 * request. A broker advertises its own host:port in Metadata and FindCoordinator answers, and a
 * client then connects there directly; the proxy rewrites that port to its own, so every
 * connection of the client stays behind it. kafkajs uses the non-flexible versions of those two
 * APIs, where a host is an int16 length and bytes followed by an int32 port; @platformatic/kafka the
 * flexible ones, where it is a compact string (varint length + 1) followed by an int32 port. Closed after the
 * test (or the file; see ../cleanup.ts).
 */
export async function startKafkaProxy(upstream: string): Promise<KafkaProxy> {
  const [host, portText] = upstream.split(':') as [string, string];
  const upstreamPort = Number(portText);
  const stats: KafkaProxyStats = { produceRequests: 0, droppedResponses: 0, rewrites: 0 };
  let toDrop = 0;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const broker = connect({ host, port: upstreamPort });
    sockets.add(client).add(broker);
    const apiOf = new Map<number, number>();
    const closeBoth = (): void => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
    };
    client.on('error', closeBoth).on('close', closeBoth);
    broker.on('error', closeBoth).on('close', closeBoth);

    onFrames(client, (frame) => {
      const apiKey = frame.readInt16BE(4);
      const correlationId = frame.readInt32BE(8);
      apiOf.set(correlationId, apiKey);
      if (apiKey === API_PRODUCE) stats.produceRequests += 1;
      broker.write(frame);
    });

    // Answers go back in order; a delayed one holds the ones behind it, as a slow broker would.
    let chain = Promise.resolve();
    onFrames(broker, (frame) => {
      const correlationId = frame.readInt32BE(4);
      const apiKey = apiOf.get(correlationId);
      apiOf.delete(correlationId);
      if (apiKey === API_PRODUCE && toDrop > 0) {
        toDrop -= 1;
        stats.droppedResponses += 1;
        closeBoth();
        return;
      }
      const out = apiKey === API_METADATA || apiKey === API_FIND_COORDINATOR ? rewriteAddress(frame) : frame;
      // Each answer is due `delayMs` after it arrived (delays do not add up), and never overtakes one before it.
      const due = Date.now() + (apiKey === API_PRODUCE ? delayMs : 0);
      chain = chain.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (!client.destroyed) client.write(out);
      });
    });
  });

  function rewriteAddress(frame: Buffer): Buffer {
    const hostBytes = Buffer.from(host, 'utf8');
    // Non-flexible versions (kafkajs): the host as an int16 length and bytes. Flexible versions
    // (@platformatic/kafka): a compact string, its length + 1 as an unsigned varint (one byte for
    // a loopback host). Either way an int32 port follows, which is what gets rewritten in place.
    const needles = [Buffer.alloc(2), Buffer.from([hostBytes.length + 1])].map((prefix) => {
      if (prefix.length === 2) prefix.writeInt16BE(hostBytes.length, 0);
      const port = Buffer.alloc(4);
      port.writeInt32BE(upstreamPort, 0);
      return { needle: Buffer.concat([prefix, hostBytes, port]), portAt: prefix.length + hostBytes.length };
    });
    const out = Buffer.from(frame);
    for (const { needle, portAt } of needles) {
      for (let at = out.indexOf(needle, 8); at !== -1; at = out.indexOf(needle, at + needle.length)) {
        out.writeInt32BE(proxyPort, at + portAt);
        stats.rewrites += 1;
      }
    }
    return out;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = (server.address() as { port: number }).port;
  const proxy: KafkaProxy = {
    port: proxyPort,
    brokers: [`127.0.0.1:${proxyPort}`],
    stats,
    dropProduceResponses(n) {
      toDrop += n;
    },
    delayProduceResponses(ms) {
      delayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  registerCleanup(() => proxy.close());
  return proxy;
}

/** Calls `onFrame` with each complete size-prefixed Kafka frame read from `socket`. */
function onFrames(socket: Socket, onFrame: (frame: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const size = buf.readInt32BE(0);
      if (buf.length < 4 + size) break;
      onFrame(buf.subarray(0, 4 + size));
      buf = buf.subarray(4 + size);
    }
  });
}
