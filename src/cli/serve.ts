import { constants, existsSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Command } from 'commander';
import { ADMIN_PASSWORD_FILE } from '../auth/bootstrap.js';
import { type Config, ConfigError, loadConfig } from '../server/config.js';
import { holdStartupMemory, releaseStartupMemory } from '../server/memory.js';
import { flagOverrides, type ServeFlags } from './serve-flags.js';

/** `wharf serve`: the registry on HOST:PORT, storing in DIR, like `docker run -p 5000:5000 registry`. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the registry server')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--addr <host:port>', 'address to listen on (default 127.0.0.1:5000)')
    .option('--data <dir>', 'data directory (default ./data)')
    .action(async (opts: ServeFlags) => {
      const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides: flagOverrides(opts) });
      // Before the server's modules load (see memory.ts), hence the dynamic imports.
      holdStartupMemory();
      const { createLogger } = await import('../server/logger.js');
      const { buildServer } = await import('../server/app.js');
      const tty = process.stdout.isTTY === true;
      const logger = createLogger(config.log, { tty });
      if (config.storage.driver === 'filesystem') await usableDataDirectory(config.storage.root);
      const server = await buildServer(config, logger);
      const { host, port } = splitAddr(config.http.addr);
      const inFlight = countInFlight(server.app.server);
      try {
        await server.app.listen({ host, port });
      } catch (err) {
        await server.close().catch(() => {});
        throw listenError(err, config.http.addr);
      }
      logger.info({ addr: config.http.addr, data: config.storage.root }, 'wharf registry listening');
      if (tty) process.stdout.write(banner(config));
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

/** The data directory exists (created if missing) and can be read and written, or a clear error. */
async function usableDataDirectory(root: string): Promise<void> {
  try {
    await mkdir(root, { recursive: true });
    await access(root, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied (run as its owner, or choose another with --data or storage.root)'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file is in the way (choose a directory with --data or storage.root)'
          : (err as Error).message;
    throw new ConfigError(`cannot use the data directory ${root}: ${why}`);
  }
}

/** Node's listen errors (EADDRINUSE, EACCES, EADDRNOTAVAIL…) in words, naming the address. */
function listenError(err: unknown, addr: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const hint: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (another wharf or registry?); choose another with --addr or http.addr',
    EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
    EADDRNOTAVAIL: 'that address is not one of this machine (use 127.0.0.1, 0.0.0.0 or an address it has)',
    ENOTFOUND: 'the host name does not resolve',
  };
  return new ConfigError(
    `cannot listen on ${addr}: ${(code && hint[code]) ?? (err instanceof Error ? err.message : String(err))}`,
  );
}

/** What a person starting the server on a terminal wants to know, and what to do next. */
export function banner(config: Config): string {
  const scheme = config.tls.cert ? 'https' : 'http';
  const url = `${scheme}://${config.http.addr}`;
  const lines = [
    '',
    'Wharf is running.',
    `  Address          ${url}${config.auth.mode === 'token' ? `  (web UI: ${url}/)` : ''}`,
    `  Data directory   ${config.storage.driver === 'memory' ? '(memory: nothing is kept)' : config.storage.root}`,
  ];
  const passwordFile = join(config.storage.root, ADMIN_PASSWORD_FILE);
  if (config.auth.mode === 'token') {
    lines.push(
      existsSync(passwordFile)
        ? `  Admin password   in ${passwordFile} (user admin)`
        : '  Admin account    admin (its password was set before; wharf user passwd admin changes it)',
    );
  } else {
    lines.push(`  Access           auth.mode ${config.auth.mode}`);
  }
  lines.push(
    '',
    'Next steps:',
    ...(config.auth.mode === 'token' ? [`  docker login ${config.http.addr} -u admin`] : []),
    `  docker tag busybox ${config.http.addr}/${config.auth.mode === 'token' ? 'admin/' : ''}busybox`,
    `  docker push ${config.http.addr}/${config.auth.mode === 'token' ? 'admin/' : ''}busybox`,
    '  wharf config check     (the configuration, and where each value comes from)',
    '',
    'Stop with Ctrl+C.',
    '',
  );
  return `${lines.join('\n')}\n`;
}
