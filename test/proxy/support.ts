import { Writable } from 'node:stream';
import { buildServer, type WharfServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';

export interface ProxyServer {
  server: WharfServer;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every log line the server wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** An in-process Wharf (memory storage, auth none) with `remotes`, listening on a free loopback port. */
export async function startProxyServer(remotes: object[], env: NodeJS.ProcessEnv = {}): Promise<ProxyServer> {
  const config = loadConfig({
    env: {
      WHARF_STORAGE_DRIVER: 'memory',
      WHARF_AUTH_MODE: 'none',
      WHARF_LOG_LEVEL: 'debug',
      WHARF_PROXY_REMOTES: JSON.stringify(remotes),
      ...env,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      cb();
    },
  });
  const server = await buildServer(config, createLogger(config.log, { destination: sink }));
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const address = server.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, url: `http://127.0.0.1:${address.port}`, logs, close: () => server.close() };
}
