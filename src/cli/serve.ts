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
      await server.app.listen({ host, port });
      logger.info({ addr: config.http.addr, data: config.storage.root }, 'wharf registry listening');
      releaseStartupMemory();
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}

export function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}
