import type { S3Driver } from '../../src/storage/drivers/s3.js';
import { type Nginx, startNginx, type UpstreamLine } from './nginx.js';
import { createDatabase, type PgCluster, startPostgres } from './postgres.js';
import { startWharf, WHARF_BIN, type WharfProcess } from './server.js';
import { createSwiftBucket, SWIFT_TOOLS, type SwiftStore, startSwift } from './swift.js';
import { freePort, type RunResult, removeTmpDir, run, tmpDir } from './tools.js';

/** What a cluster test needs installed (with the apt-get line the guard prints). */
export const CLUSTER_TOOLS = [...SWIFT_TOOLS, 'nginx', 'pg_ctlcluster'];

export const CLUSTER_BUCKET = 'wharf-cluster';

export interface ClusterOptions {
  /** More configuration for every node (e.g. WHARF_AUTH_MODE=token). */
  env?: NodeJS.ProcessEnv;
  /** Configuration of node i only (e.g. GC on one node). */
  nodeEnv?: (i: number) => NodeJS.ProcessEnv;
  nodes?: number;
}

export interface Cluster {
  /** nginx: what clients talk to. */
  url: string;
  host: string;
  /** `127.0.0.1:PORT` of each node; a node keeps its port across restarts. */
  nodeHosts: string[];
  /** The running process of node i (replaced by restart). */
  node(i: number): WharfProcess;
  /** The configuration every node runs with (database, bucket, credentials, `env`). */
  env: NodeJS.ProcessEnv;
  databaseUrl: string;
  s3: S3Driver;
  /** `kill -9` of node i; nginx finds out at its next connection. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its port and data directory. */
  restart(i: number): Promise<void>;
  /** Which node (index) an upstream address is, or -1. */
  nodeOf(upstream: string): number;
  /** nginx's requests so far, with the upstream(s) that served each. */
  upstreamLog(): Promise<UpstreamLine[]>;
  /** `wharf ARGS` (fsck, gc, user …) with the cluster's configuration, from node 0's data directory. */
  wharf(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Everything the nodes printed (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/** Tolerates a failure to start one part: whatever started is stopped again. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.nodes ?? 3;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const [pg, swift] = await Promise.all([startPostgres(), startSwift()]);
    stops.push(
      () => (pg as PgCluster).stop(),
      () => (swift as SwiftStore).stop(),
    );
    const databaseUrl = await createDatabase(pg.url);
    const s3 = await createSwiftBucket(swift.endpoint, CLUSTER_BUCKET);
    const env: NodeJS.ProcessEnv = {
      WHARF_DATABASE_URL: databaseUrl,
      WHARF_DATABASE_POOL_MAX: '5',
      WHARF_STORAGE_DRIVER: 's3',
      WHARF_STORAGE_S3_BUCKET: CLUSTER_BUCKET,
      WHARF_STORAGE_S3_ENDPOINT: swift.endpoint,
      WHARF_STORAGE_S3_REGION: swift.region,
      WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: swift.accessKeyId,
      AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
      ...options.env,
    };
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const dataDirs = await Promise.all(ports.map(() => tmpDir('wharf-cluster-node-')));
    stops.push(async () => {
      for (const d of dataDirs) await removeTmpDir(d);
    });
    const nodeHosts = ports.map((p) => `127.0.0.1:${p}`);
    const procs: WharfProcess[] = [];
    let pastLogs = '';
    const startNode = async (i: number) => {
      procs[i] = await startWharf({ port: ports[i], dataDir: dataDirs[i], env: { ...env, ...options.nodeEnv?.(i) } });
    };
    stops.push(async () => {
      for (const p of procs) await p?.stop();
    });
    // All at once: the migrations, the admin account and the signing key are made by whichever is first.
    await Promise.all(ports.map((_, i) => startNode(i)));
    const nginx: Nginx = await startNginx({ upstream: nodeHosts });
    stops.push(() => nginx.stop());
    const proc = (i: number): WharfProcess => {
      const p = procs[i];
      if (!p) throw new Error(`no node ${i}`);
      return p;
    };
    return {
      url: nginx.url,
      host: nginx.host,
      nodeHosts,
      node: proc,
      env,
      databaseUrl,
      s3,
      async kill(i) {
        pastLogs += proc(i).log();
        await proc(i).kill();
      },
      async restart(i) {
        const p = proc(i);
        if (p.child.exitCode === null && p.child.signalCode === null) {
          pastLogs += p.log();
          await p.stop();
        }
        await startNode(i);
      },
      nodeOf: (upstream) => nodeHosts.indexOf(upstream),
      upstreamLog: () => nginx.upstreamLog(),
      wharf: (args, o = {}) =>
        run(process.execPath, [WHARF_BIN, ...args, '--data', dataDirs[0] ?? ''], {
          env: { ...process.env, ...env, WHARF_LOG_LEVEL: 'warn', ...o.env },
          timeoutMs: 300_000,
          ...(o.input === undefined ? {} : { input: o.input }),
        }),
      logs: () => pastLogs + procs.map((p, i) => `--- node ${i}\n${p?.log() ?? ''}`).join('\n'),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
