import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/passwords.js';
import { createAccount, updateAccount } from '../../src/metadata/accounts.js';
import { DATABASE_FILE, type MetadataDb, openMetadata } from '../../src/metadata/db.js';
import { buildServer, type WharfServer } from '../../src/server/app.js';
import { type Config, loadConfig } from '../../src/server/config.js';
import { createDatabase, testOnPostgres } from './postgres.js';
import { createSwiftBucket, S3_ENDPOINT_ENV, SWIFT_CREDENTIALS } from './swift.js';
import { freePort, removeTmpDir, runOk, sleep, tmpDir } from './tools.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
/** The built CLI; `npm test` builds it first (pretest). */
export const WHARF_BIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/**
 * The metadata and storage settings of a test server. Under WHARF_TEST_DATABASE=postgres
 * (npm run test:postgres) each test server gets a fresh database in the run's PostgreSQL
 * cluster; under WHARF_TEST_STORAGE=s3 (the `postgres+s3` project of that run) each data
 * directory also gets a bucket of its own in the run's Swift store. Otherwise nothing (SQLite
 * and blobs in the data directory). Without `dataDir` (in-process memory servers) no storage.
 */
export async function testDatabaseEnv(dataDir?: string): Promise<NodeJS.ProcessEnv> {
  const storage = dataDir === undefined ? {} : await testStorageEnv(dataDir);
  if (!testOnPostgres()) return storage;
  // A server restarted on the same data directory finds its metadata again.
  let url = dataDir === undefined ? undefined : databaseOfDataDir.get(dataDir);
  if (url === undefined) {
    url = await createDatabase();
    if (dataDir !== undefined) databaseOfDataDir.set(dataDir, url);
  }
  return { WHARF_DATABASE_URL: url, WHARF_DATABASE_POOL_MAX: '4', ...storage };
}

const databaseOfDataDir = new Map<string, string>();

/** Blob storage in a bucket of the run's Swift store, the same bucket again for the same data directory. */
async function testStorageEnv(dataDir: string): Promise<NodeJS.ProcessEnv> {
  if (process.env.WHARF_TEST_STORAGE !== 's3') return {};
  const endpoint = process.env[S3_ENDPOINT_ENV];
  if (!endpoint) throw new Error(`WHARF_TEST_STORAGE=s3 needs ${S3_ENDPOINT_ENV} (test/support/s3-setup.ts)`);
  let bucket = bucketOfDataDir.get(dataDir);
  if (bucket === undefined) {
    bucket = `wharf-test-${randomBytes(6).toString('hex')}`;
    (await createSwiftBucket(endpoint, bucket)).client.destroy();
    bucketOfDataDir.set(dataDir, bucket);
  }
  return {
    WHARF_STORAGE_DRIVER: 's3',
    WHARF_STORAGE_S3_BUCKET: bucket,
    WHARF_STORAGE_S3_ENDPOINT: endpoint,
    WHARF_STORAGE_S3_REGION: SWIFT_CREDENTIALS.region,
    WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    WHARF_STORAGE_S3_ACCESS_KEY_ID: SWIFT_CREDENTIALS.accessKeyId,
    WHARF_STORAGE_S3_SECRET_ACCESS_KEY: SWIFT_CREDENTIALS.secretAccessKey,
  };
}

const bucketOfDataDir = new Map<string, string>();

/** An in-process server on the memory driver (or a given config), for fastify.inject() tests. */
export async function memoryServer(env: NodeJS.ProcessEnv = {}): Promise<WharfServer> {
  const config: Config = loadConfig({
    env: {
      WHARF_STORAGE_DRIVER: 'memory',
      WHARF_LOG_LEVEL: 'silent',
      WHARF_AUTH_MODE: 'none',
      ...(await testDatabaseEnv()),
      ...env,
    },
  });
  return buildServer(config);
}

/**
 * An in-process server in token mode (the hub) with accounts: `admin` gets `passwords.admin`,
 * the others (`accounts`, default every other name in `passwords`) are created.
 */
export async function hubServer(
  passwords: Record<string, string>,
  options: { accounts?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<WharfServer> {
  const server = await memoryServer({ WHARF_AUTH_MODE: 'token', ...options.env });
  const db = server.ctx.db;
  await updateAccount(db, 'admin', { passwordHash: await hashPassword(passwords.admin ?? '') });
  for (const user of options.accounts ?? Object.keys(passwords).filter((u) => u !== 'admin')) {
    await createAccount(db, { username: user, passwordHash: await hashPassword(passwords[user] ?? '') });
  }
  return server;
}

/** A real `wharf serve` process on a free loopback port, as users run it. */
export interface WharfProcess {
  url: string;
  /** host:port, as docker and skopeo want it. */
  host: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Output of the process so far (for failure messages). */
  log(): string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Stops (if running) and removes the data directory. */
  cleanup(): Promise<void>;
}

/** HTTPS for startWharf: PEM files for the server, and the CA (PEM text) that signed its certificate. */
export interface WharfTls {
  cert: string;
  key: string;
  ca: string | Buffer;
}

/** Status of GET `url` over HTTPS, trusting only `ca` (no global TLS settings touched). */
function httpsStatus(url: string, ca: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startWharf(
  options: {
    dataDir?: string;
    env?: NodeJS.ProcessEnv;
    port?: number;
    /** IPv4 address to listen on (default 127.0.0.1). */
    ip?: string;
    /** Serve HTTPS (sets WHARF_TLS_CERT/KEY); readiness is checked trusting `ca`. */
    tls?: WharfTls;
    /**
     * A command prefix to run `node wharf serve …` under, e.g. `['/usr/sbin/ip', 'netns', 'exec', NS]`.
     * It must exec the command (as `ip netns exec` does), so that the signals of stop() and kill()
     * reach wharf. Readiness is still polled from this process, so the `ip` address must be reachable from here.
     */
    wrap?: string[];
  } = {},
): Promise<WharfProcess> {
  const dataDir = options.dataDir ?? (await tmpDir('wharf-data-'));
  const port = options.port ?? (await freePort());
  const host = `${options.ip ?? '127.0.0.1'}:${port}`;
  const { tls } = options;
  let output = '';
  const [cmd = process.execPath, ...args] = [
    ...(options.wrap ?? []),
    process.execPath,
    WHARF_BIN,
    'serve',
    '--addr',
    host,
    '--data',
    dataDir,
  ];
  const child = spawn(cmd, args, {
    // Registry tests run without access control unless they ask for it (auth tests set WHARF_AUTH_MODE).
    env: {
      ...process.env,
      WHARF_LOG_LEVEL: 'warn',
      WHARF_AUTH_MODE: 'none',
      ...(tls ? { WHARF_TLS_CERT: tls.cert, WHARF_TLS_KEY: tls.key } : {}),
      ...(await testDatabaseEnv(dataDir)),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `${tls ? 'https' : 'http'}://${host}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wharf serve exited with ${child.exitCode}:\n${output}`);
    try {
      // 401: up, with access control (token or htpasswd mode).
      const status = tls ? await httpsStatus(`${url}/v2/`, tls.ca) : (await fetch(`${url}/v2/`)).status;
      if (status === 200 || status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`wharf serve did not start within 20 s:\n${output}`);
    }
    await sleep(50);
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    url,
    host,
    port,
    dataDir,
    child,
    log: () => output,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async cleanup() {
      await signal('SIGTERM');
      if (!options.dataDir) await removeTmpDir(dataDir);
    },
  };
}

/** `wharf ARGS`: the admin CLI (user, repo), run on the data directory of a server. */
export async function wharfAdmin(args: string[], input?: string): Promise<string> {
  // The admin commands find the metadata as the server of that --data directory does.
  const data = args[args.indexOf('--data') + 1];
  const env = { ...process.env, ...(args.includes('--data') && data ? await testDatabaseEnv(data) : {}) };
  return (await runOk(process.execPath, [WHARF_BIN, ...args], { env, ...(input === undefined ? {} : { input }) }))
    .stdout;
}

/** The metadata database of a test server's data directory (its PostgreSQL database on the PG run). */
export async function openDataDirDb(dataDir: string): Promise<MetadataDb> {
  const env = await testDatabaseEnv(dataDir);
  return openMetadata({
    url: env.WHARF_DATABASE_URL ?? '',
    pool: { max: 2, idleTimeoutMs: 1_000, connectTimeoutMs: 5_000 },
    sqliteFile: join(dataDir, DATABASE_FILE),
  });
}
