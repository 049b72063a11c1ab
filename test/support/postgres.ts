// A throw-away PostgreSQL 15 cluster for tests (issue 12): initdb in a temp directory, on a free
// loopback port with its socket in that directory, trust authentication, fsync off. Started once
// per vitest run by test/support/postgres-setup.ts when WHARF_TEST_DATABASE=postgres; each test
// server then gets a database of its own (createDatabase). Usable by hand:
//   node --import tsx test/support/postgres.ts start     → prints the URL and the directory
//   node --import tsx test/support/postgres.ts stop DIR
// initdb and pg_ctl refuse to run as root: as root they run as the `postgres` user.
import { randomBytes } from 'node:crypto';
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, isRoot, removeTmpDir, runOk, tmpDir } from './tools.js';

const BIN = process.env.WHARF_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** Set (by the global setup) to the cluster's admin URL; createDatabase() uses it. */
export const PG_URL_ENV = 'WHARF_TEST_PG_URL';

export interface PgCluster {
  /** Admin URL (database `postgres`, user `postgres`). */
  url: string;
  dir: string;
  port: number;
  stop(): Promise<void>;
}

/** Runs a PostgreSQL binary, as `postgres` when we are root. */
function pgTool(tool: string, args: string[]): Promise<unknown> {
  const bin = join(BIN, tool);
  return isRoot() ? runOk('runuser', ['-u', 'postgres', '--', bin, ...args]) : runOk(bin, args);
}

export async function startPostgres(): Promise<PgCluster> {
  const dir = await tmpDir('wharf-pg-');
  if (isRoot()) {
    const ids = await runOk('id', ['-u', 'postgres']);
    const gids = await runOk('id', ['-g', 'postgres']);
    await chown(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  }
  const data = join(dir, 'data');
  await pgTool('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '-N']);
  const port = await freePort();
  await startCluster(dir, port);
  await writeFile(join(dir, 'port'), String(port));
  // Through the socket in the temp dir: a server started in another network namespace
  // (test/interop/tls.test.ts) reaches it too, where 127.0.0.1 would be its own loopback.
  const url = `postgres://postgres@localhost:${port}/postgres?host=${encodeURIComponent(dir)}`;
  return { url, dir, port, stop: () => stopPostgres(dir) };
}

/** Starts (again) the cluster in `dir` on `port`, its socket in `dir`. */
export async function startCluster(dir: string, port: number): Promise<void> {
  await pgTool('pg_ctl', [
    '-D',
    join(dir, 'data'),
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`,
    'start',
  ]);
}

/** Stops the cluster in `dir` as a crash would (`-m immediate`), keeping its files. */
export async function stopCluster(dir: string): Promise<void> {
  await pgTool('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
}

export async function stopPostgres(dir: string): Promise<void> {
  await stopCluster(dir).catch(() => undefined);
  await removeTmpDir(dir);
}

/** A fresh, empty database in the run's cluster (or `adminUrl`'s); returns its URL. */
export async function createDatabase(adminUrl = process.env[PG_URL_ENV]): Promise<string> {
  if (!adminUrl) throw new Error(`${PG_URL_ENV} is not set: start the cluster first (test/support/postgres-setup.ts)`);
  const name = `wharf_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Whether this run puts test servers on PostgreSQL (WHARF_TEST_DATABASE=postgres). */
export function testOnPostgres(): boolean {
  return process.env.WHARF_TEST_DATABASE === 'postgres';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, arg] = process.argv.slice(2);
  if (command === 'start') {
    const cluster = await startPostgres();
    console.log(`${cluster.url}\n${cluster.dir}`);
  } else if (command === 'stop' && arg) {
    await stopPostgres(arg);
  } else if (command === 'createdb') {
    console.log(await createDatabase(arg));
  } else {
    console.error('usage: postgres.ts start | stop DIR | createdb ADMIN_URL');
    process.exitCode = 2;
  }
}
