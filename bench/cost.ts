// What a node costs the services behind it (issue 12): PostgreSQL statements and transactions
// (pg_stat_statements, pg_stat_database), object-store requests (a counting HTTP relay in front
// of the store), CPU time of process trees (/proc). Used by bench/scale.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, stopCluster } from '../test/support/postgres.js';
import { processTree } from './servers.js';

/** Restarts the cluster in `dir` with pg_stat_statements loaded (it needs shared_preload_libraries). */
export async function enableStatementStats(adminUrl: string, dir: string, port: number): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`alter system set shared_preload_libraries = 'pg_stat_statements'`));
  await stopCluster(dir);
  await startCluster(dir, port);
  await withClient(adminUrl, (c) => c.query('create extension if not exists pg_stat_statements'));
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface PgCounts {
  /** Every statement, BEGIN and COMMIT included. */
  statements: number;
  /** Explicit transactions (BEGIN); single statements outside one commit on their own. */
  transactions: number;
  /** INSERT, UPDATE, DELETE statements. */
  writes: number;
}

/**
 * Statements one database has run, from pg_stat_statements (updated as each statement ends;
 * pg_stat_database's transaction counts lag by up to 10 s in PostgreSQL 15, so they are not used).
 */
export class PgCounter {
  private constructor(
    private readonly client: pg.Client,
    private readonly database: string,
  ) {}

  static async open(adminUrl: string, databaseUrl: string): Promise<PgCounter> {
    const client = new pg.Client({ connectionString: adminUrl });
    // The cluster may be stopped under it (an interrupted bench): that must not crash the stop.
    client.on('error', () => undefined);
    await client.connect();
    return new PgCounter(client, new URL(databaseUrl).pathname.slice(1));
  }

  async read(): Promise<PgCounts> {
    const r = await this.client.query<PgCounts>(
      `select coalesce(sum(calls), 0)::int as statements,
              coalesce(sum(calls) filter (where query ilike 'begin%'), 0)::int as transactions,
              coalesce(sum(calls) filter (where query ~* '^\\s*(insert|update|delete)'), 0)::int as writes
         from pg_stat_statements s join pg_database d on d.oid = s.dbid
        where d.datname = $1`,
      [this.database],
    );
    return r.rows[0] ?? { statements: 0, transactions: 0, writes: 0 };
  }

  /** Every statement's text and calls so far, for a breakdown (`--statements`). */
  async perStatement(): Promise<Map<string, number>> {
    const r = await this.client.query<{ query: string; calls: number }>(
      `select s.query, s.calls::int as calls from pg_stat_statements s join pg_database d on d.oid = s.dbid
        where d.datname = $1`,
      [this.database],
    );
    return new Map(r.rows.map((row) => [row.query.replace(/\s+/g, ' ').slice(0, 140), row.calls]));
  }

  /** Connections the nodes hold open to the database now. */
  async connections(): Promise<number> {
    const r = await this.client.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [this.database],
    );
    return r.rows[0]?.n ?? 0;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

export function pgDelta(after: PgCounts, before: PgCounts): PgCounts {
  return {
    statements: after.statements - before.statements,
    transactions: after.transactions - before.transactions,
    writes: after.writes - before.writes,
  };
}

/** The S3 operation of a request, from its method and query (path-style addressing). */
export function s3Operation(method: string, url: string, copy: boolean): string {
  const u = new URL(url, 'http://x');
  const q = u.searchParams;
  const objectKey = u.pathname.split('/').filter(Boolean).length > 1;
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'PUT' && q.has('partNumber')) return copy ? 'UploadPartCopy' : 'UploadPart';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && q.has('uploadId')) return 'ListParts';
  if (method === 'GET' && !objectKey) return 'ListObjects';
  if (method === 'POST' && q.has('delete')) return 'DeleteObjects';
  if (method === 'PUT') return copy ? 'CopyObject' : 'PutObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  return `${method} other`;
}

export interface CountingRelay {
  endpoint: string;
  /** Requests since the last reset, by S3 operation. */
  take(): Record<string, number>;
  close(): Promise<void>;
}

/**
 * An HTTP relay in front of the object store that counts requests. Headers pass unchanged
 * (the Host header too: SigV4 signs it, and the store checks it against what it receives).
 */
export async function countingRelay(target: string): Promise<CountingRelay> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let counts: Record<string, number> = {};
  const server = createServer((req, res) => {
    const op = s3Operation(req.method ?? 'GET', req.url ?? '/', req.headers['x-amz-copy-source'] !== undefined);
    counts[op] = (counts[op] ?? 0) + 1;
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    take() {
      const out = counts;
      counts = {};
      return out;
    },
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of the processes, in clock ticks. */
function ticksOf(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return sum;
}

/** Busy ticks of the whole machine, from /proc/stat. */
function machineTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
}

/** Pids whose command line mentions `text` (the Swift servers, by their temp directory). */
export function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(join('/proc', entry, 'cmdline'), 'utf8').includes(text)) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** The postmaster of a cluster directory (test/support/postgres.ts layout) and its backends. */
export function postgresPids(dir: string): () => number[] {
  const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return () => processTree(postmaster);
}

/** CPU used (in cores: 1.0 = one core busy all the time) by named process groups over a span. */
export function cpuMeter(groups: Record<string, () => number[]>): { stop(): Record<string, number> } {
  const start = performance.now();
  const before = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, ticksOf(pids())]));
  const machineBefore = machineTicks();
  return {
    stop() {
      const seconds = (performance.now() - start) / 1000;
      const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
      const out: Record<string, number> = {};
      for (const [name, pids] of Object.entries(groups)) out[name] = cores(ticksOf(pids()) - (before[name] ?? 0));
      out.machine = cores(machineTicks() - machineBefore);
      return out;
    },
  };
}
