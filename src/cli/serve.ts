import { constants, existsSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { ADMIN_PASSWORD_FILE } from '../auth/bootstrap.js';
import { buildServer } from '../server/app.js';
import { type Config, ConfigError, loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { releaseStartupMemory } from '../server/memory.js';
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
      const tty = process.stdout.isTTY === true;
      const logger = createLogger(config.log, { tty });
      if (config.storage.driver === 'filesystem') await usableDataDirectory(config.storage.root);
      const server = await buildServer(config, logger);
      const { host, port } = splitAddr(config.http.addr);
      try {
        await server.app.listen({ host, port });
      } catch (err) {
        await server.close().catch(() => {});
        throw listenError(err, config.http.addr);
      }
      logger.info({ addr: config.http.addr, data: config.storage.root }, 'wharf registry listening');
      if (tty) process.stdout.write(banner(config));
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
