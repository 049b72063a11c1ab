import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Command } from 'commander';
import { holdStartupMemory, releaseStartupMemory } from '../server/memory.js';

/** `wharf serve`: the registry on HOST:PORT, storing in DIR, like `docker run -p 5000:5000 registry`. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the registry server')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--addr <host:port>', 'address to listen on (default 127.0.0.1:5000)')
    .option('--data <dir>', 'data directory (default ./data)')
    .action(async (opts: { config?: string; addr?: string; data?: string }) => {
      // Before the server's modules load (see memory.ts), hence the dynamic imports.
      holdStartupMemory();
      const { loadConfig } = await import('../server/config.js');
      const { createLogger } = await import('../server/logger.js');
      const { buildServer } = await import('../server/app.js');
      const overrides: [string[], unknown][] = [];
      if (opts.addr) overrides.push([['http', 'addr'], opts.addr]);
      if (opts.data) overrides.push([['storage', 'root'], opts.data]);
      const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides });
      const logger = createLogger(config.log);
      const server = await buildServer(config, logger);
      const { host, port } = splitAddr(config.http.addr);
      const inFlight = countInFlight(server.app.server);
      await server.app.listen({ host, port });
      logger.info({ addr: config.http.addr, data: config.storage.root }, 'wharf registry listening');
      releaseStartupMemory();
      let stopping = false;
      const stop = async (signal: string) => {
        // A second signal while draining: stop at once.
        if (stopping) process.exit(1);
        stopping = true;
        // Graceful drain (docker stop, systemctl stop): no new connections, idle keep-alive ones
        // closed, requests in flight get DRAIN_MS to finish; whatever is left is then cut (an
        // interrupted upload resumes from what reached the disk).
        logger.info({ signal, inFlight: inFlight.count() }, 'shutting down: draining requests');
        server.app.server.close();
        await inFlight.drained(DRAIN_MS);
        await server.close();
      };
      const onSignal = (signal: string) =>
        stop(signal).then(
          () => process.exit(0),
          () => process.exit(1),
        );
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
}

/** How long a stop waits for requests in flight: within docker stop's and systemd's 10 s grace. */
const DRAIN_MS = 8_000;

/** Counts the HTTP requests in flight on `server`, and waits for them to end. */
function countInFlight(server: Server): { count(): number; drained(ms: number): Promise<void> } {
  let count = 0;
  const waiters = new Set<() => void>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    count++;
    res.once('close', () => {
      count--;
      // The connection may now be idle: close it rather than wait for its keep-alive timeout.
      if (!server.listening) server.closeIdleConnections();
      if (count === 0) for (const done of waiters) done();
    });
  });
  return {
    count: () => count,
    drained: (ms) =>
      new Promise<void>((resolve) => {
        if (count === 0) return resolve();
        const timer = setTimeout(finish, ms);
        function finish() {
          clearTimeout(timer);
          waiters.delete(finish);
          resolve();
        }
        waiters.add(finish);
      }),
  };
}

export function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}
