// Scale-out bench (issue 12): Wharf on PostgreSQL + S3 (a local OpenStack Swift with s3api,
// test/support/swift.ts) next to the embedded default (SQLite + filesystem), in the same run,
// as ratios; then what one push and one pull cost PostgreSQL and the object store.
//   npm run bench -- --storage s3 --database postgres      (builds, then only this)
//   npx tsx bench/scale.ts [--storage s3|filesystem] [--database postgres|sqlite]
//                          [--size MiB] [--reps N] [--duration s] [--out FILE]
//                          [--statements] [--cost-only]
// Both nodes run as users run them: auth.mode token (the default), logs at error. Requests
// carry bearer tokens from /token: the admin's for pushes, an anonymous one (public
// repository) and a signed-in user's for the manifest GETs.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3Driver } from '../src/storage/drivers/s3.js';
import { prngBytes } from '../test/support/generated-blob.js';
import { createDatabase, type PgCluster, startPostgres } from '../test/support/postgres.js';
import { startWharf, type WharfProcess } from '../test/support/server.js';
import { type SwiftStore, startSwift } from '../test/support/swift.js';
import { RegistryClient } from './client.js';
import {
  type CountingRelay,
  countingRelay,
  cpuMeter,
  enableStatementStats,
  PgCounter,
  type PgCounts,
  pgDelta,
  pidsMentioning,
  postgresPids,
} from './cost.js';
import { blobDigest, MANIFEST_TYPE, sha256, tinyImage, tinyTar } from './data.js';
import { hwmMiB, rssMiB } from './servers.js';
import { type BigBlob, percentile, pullBlob, pushChunked, pushImage, pushMonolithic } from './workloads.js';
import { haveWrk, WRK_BIN, wrk } from './wrk.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_PASSWORD = 'bench-admin-password';
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    storage: { type: 'string', default: 's3' },
    database: { type: 'string', default: 'postgres' },
    size: { type: 'string', default: '128' },
    reps: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    out: { type: 'string', default: join(repoRoot, 'bench/results/scale.json') },
    /** Also print, per cost step, how often each SQL statement ran. */
    statements: { type: 'boolean', default: false },
    'cost-only': { type: 'boolean', default: false },
  },
});
if (args.storage !== 's3' && args.storage !== 'filesystem') throw new Error('--storage must be s3 or filesystem');
if (args.database !== 'postgres' && args.database !== 'sqlite')
  throw new Error('--database must be postgres or sqlite');
const blobMiB = Number(args.size);
const reps = Number(args.reps);
const durationS = Number(args.duration);

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

interface Services {
  pg?: PgCluster;
  swift?: SwiftStore;
  /** Bucket prefixes must differ between nodes of one run. */
  next: number;
}

/** Environment of a node on the chosen database and storage (a fresh database, a fresh prefix). */
async function scaledEnv(services: Services, storeEndpoint?: string): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {};
  if (services.pg) env.WHARF_DATABASE_URL = await createDatabase(services.pg.url);
  if (services.swift) {
    Object.assign(env, {
      WHARF_STORAGE_DRIVER: 's3',
      WHARF_STORAGE_S3_BUCKET: 'bench',
      WHARF_STORAGE_S3_PREFIX: `node${services.next++}`,
      WHARF_STORAGE_S3_ENDPOINT: storeEndpoint ?? services.swift.endpoint,
      WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: services.swift.accessKeyId,
      AWS_SECRET_ACCESS_KEY: services.swift.secretAccessKey,
    });
  }
  return env;
}

async function startNode(env: NodeJS.ProcessEnv): Promise<WharfProcess> {
  return startWharf({
    env: {
      WHARF_LOG_LEVEL: 'error',
      WHARF_AUTH_MODE: 'token',
      WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
      WHARF_AUTH_TOKEN_TTL: '2h',
      ...env,
    },
  });
}

/** A bearer token from the node's /token for `scopes`; anonymous without `user`. */
async function token(node: WharfProcess, scopes: string[], user?: { name: string; password: string }): Promise<string> {
  const q = new URLSearchParams({ service: 'wharf' });
  for (const s of scopes) q.append('scope', s);
  const headers: Record<string, string> = {};
  if (user) headers.authorization = `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
  const res = await fetch(`${node.url}/token?${q}`, { headers });
  if (res.status !== 200) throw new Error(`/token: ${res.status} ${await res.text()}`);
  return `Bearer ${((await res.json()) as { token: string }).token}`;
}

const ADMIN = { name: 'admin', password: ADMIN_PASSWORD };
const scope = (repo: string, actions = 'pull,push') => `repository:${repo}:${actions}`;

interface NodeResult {
  values: Record<string, number>;
  /** Per workload: CPU in cores of each process group (and the whole machine). */
  cpu: Record<string, Record<string, number>>;
  /** Per request workload: each round's req/s and server CPU per request (µs). */
  rounds: Record<string, { rate: number[]; cpuUs: number[] }>;
}

/** A node under measurement, with what its workloads need. */
interface Measured {
  label: string;
  node: WharfProcess;
  client: RegistryClient;
  /** The process groups whose CPU counts as this node's servers. */
  groups: Record<string, () => number[]>;
  result: NodeResult;
  anonymous: string;
  signedIn: string;
  /** Connections held to PostgreSQL, when on PostgreSQL. */
  connections?: () => Promise<number>;
}

function record(m: Measured, key: string, value: number, unit: string): void {
  m.result.values[key] = value;
  log(`[${m.label}] ${key}: ${value.toFixed(value >= 100 ? 0 : 2)} ${unit}`);
}

async function prepareNode(
  label: string,
  env: NodeJS.ProcessEnv,
  meters: Record<string, () => number[]>,
  connections?: (databaseUrl: string) => () => Promise<number>,
): Promise<Measured> {
  const node = await startNode(env);
  const pid = node.child.pid as number;
  const client = new RegistryClient(node.url, 64);
  client.authorization = await token(node, [scope('bench/blob'), scope('bench/manifest')], ADMIN);
  await pushImage(client, 'bench/manifest', 'latest', tinyImage(0));
  const anonymous = await token(node, [scope('bench/manifest', 'pull')]);
  const signedIn = await token(node, [scope('bench/manifest', 'pull')], ADMIN);
  const url = `${node.url}/v2/bench/manifest/manifests/latest`;
  const probe = await fetch(url, { headers: { authorization: anonymous, accept: MANIFEST_TYPE } });
  if (probe.status !== 200) throw new Error(`anonymous manifest GET: ${probe.status} (is the repository public?)`);
  const m: Measured = {
    label,
    node,
    client,
    groups: { wharf: () => [pid], ...meters },
    result: { values: {}, cpu: {}, rounds: {} },
    anonymous,
    signedIn,
    ...(connections && env.WHARF_DATABASE_URL ? { connections: connections(env.WHARF_DATABASE_URL) } : {}),
  };
  record(m, 'rss_start', rssMiB(pid), 'MiB');
  return m;
}

/** Big blobs: monolithic and chunked pushes, then pulls; medians of the reps. */
async function measureBlobs(m: Measured, blobs: { monolithic: BigBlob[]; chunked: BigBlob[] }): Promise<void> {
  const c = m.client;
  let meter = cpuMeter(m.groups);
  const mono: number[] = [];
  const chunked: number[] = [];
  for (const blob of blobs.monolithic) mono.push(await pushMonolithic(c, 'bench/blob', blob));
  for (const blob of blobs.chunked) chunked.push(await pushChunked(c, 'bench/blob', blob));
  m.result.cpu.push = meter.stop();
  record(m, 'push_monolithic', median(mono), 'MiB/s');
  record(m, 'push_chunked', median(chunked), 'MiB/s');
  meter = cpuMeter(m.groups);
  const pulls: number[] = [];
  for (let i = 0; i < reps; i++) pulls.push(await pullBlob(c, 'bench/blob', blobs.monolithic[0] as BigBlob));
  m.result.cpu.pull = meter.stop();
  record(m, 'pull', median(pulls), 'MiB/s');
}

interface RequestWorkload {
  key: string;
  url: (m: Measured) => string;
  headers: (m: Measured) => Record<string, string>;
}

const REQUESTS: RequestWorkload[] = [
  {
    key: 'manifest_get_anonymous',
    url: (m) => `${m.node.url}/v2/bench/manifest/manifests/latest`,
    headers: (m) => ({ accept: MANIFEST_TYPE, authorization: m.anonymous }),
  },
  {
    key: 'manifest_get_signed_in',
    url: (m) => `${m.node.url}/v2/bench/manifest/manifests/latest`,
    headers: (m) => ({ accept: MANIFEST_TYPE, authorization: m.signedIn }),
  },
  {
    // Every `docker pull` asks /token first; anonymously that is a repository lookup.
    key: 'token_anonymous',
    url: (m) => `${m.node.url}/token?service=wharf&scope=${scope('bench/manifest', 'pull')}`,
    headers: () => ({}),
  },
];

/**
 * wrk -c32 against each node in turn, `reps` rounds, so that other work on the machine falls on
 * both alike; medians per node. Also the server CPU per request (the node, plus PostgreSQL
 * when the node uses it): what a request costs, whatever share of the machine the node got.
 */
async function measureRequests(nodes: Measured[]): Promise<void> {
  if (!haveWrk()) throw new Error(`${WRK_BIN} not installed (apt-get install -y wrk)`);
  // Warm-up (JIT, the manifest cache, the pool's connections), not counted.
  for (const m of nodes) for (const w of REQUESTS) await wrk(w.url(m), w.headers(m), 1, 32);
  const runs = new Map<string, { rate: number[]; p99: number[]; cpuUs: number[]; cpu: Record<string, number>[] }>();
  for (let round = 0; round < reps; round++) {
    for (const w of REQUESTS) {
      for (const m of nodes) {
        const meter = cpuMeter(m.groups);
        const r = await wrk(w.url(m), w.headers(m), durationS, 32);
        const cpu = meter.stop();
        const k = `${m.label}\u0000${w.key}`;
        const entry = runs.get(k) ?? { rate: [], p99: [], cpuUs: [], cpu: [] };
        entry.rate.push(r.perSec);
        entry.p99.push(r.p99ms);
        const serverCores = (cpu.wharf ?? 0) + (cpu.postgres ?? 0);
        entry.cpuUs.push((serverCores / r.perSec) * 1e6);
        entry.cpu.push(cpu);
        runs.set(k, entry);
      }
    }
    if (round === 0) {
      for (const m of nodes) if (m.connections) record(m, 'pg_connections_under_load', await m.connections(), '');
    }
  }
  for (const m of nodes) {
    for (const w of REQUESTS) {
      const e = runs.get(`${m.label}\u0000${w.key}`);
      if (!e) continue;
      record(m, w.key, median(e.rate), 'req/s');
      record(m, `${w.key}_p99`, median(e.p99), 'ms');
      record(m, `${w.key}_cpu_us`, median(e.cpuUs), 'µs server CPU per request');
      // The CPU split of the round with the median rate.
      const mid = e.rate.indexOf(median(e.rate));
      m.result.cpu[w.key] = e.cpu[mid] ?? {};
      m.result.rounds[w.key] = { rate: e.rate, cpuUs: e.cpuUs };
    }
  }
}

async function finishNode(m: Measured): Promise<void> {
  const pid = m.node.child.pid as number;
  record(m, 'rss_end', rssMiB(pid), 'MiB');
  record(m, 'rss_hwm', hwmMiB(pid), 'MiB');
  await m.client.pool.destroy();
  await m.node.cleanup();
}

/** A layer of `size` bytes, distinct per seed, as a valid tar. */
function layer(seed: number, size: number): { data: Buffer; digest: string } {
  const data = tinyTar(`layer-${seed}.bin`, prngBytes(seed, size));
  return { data, digest: sha256(data) };
}

interface Cost {
  pg: PgCounts;
  store: Record<string, number>;
}

/**
 * What one push and one pull of a 3-layer image cost, counted on a node of its own whose store
 * requests go through a counting relay. The push is what Docker does per layer (HEAD, POST,
 * one PATCH, PUT ?digest=) and then PUTs the manifest by tag; the pull asks /token, GETs the
 * manifest by tag, the config and each layer. Counts wait 1.5 s after each step, so the
 * batched pull count (about once a second) is included.
 */
async function measureCost(services: Services, counterUrl: string): Promise<Record<string, Cost | number>> {
  const relay: CountingRelay | undefined = services.swift ? await countingRelay(services.swift.endpoint) : undefined;
  const env = await scaledEnv(services, relay?.endpoint);
  const node = await startNode(env);
  const counter = await PgCounter.open(counterUrl, env.WHARF_DATABASE_URL as string);
  const c = new RegistryClient(node.url, 8);
  const out: Record<string, Cost | number> = {};
  let before = await counter.read();
  let beforeEach = args.statements ? await counter.perStatement() : new Map<string, number>();
  relay?.take();
  const step = async (name: string, fn: () => Promise<unknown>) => {
    await fn();
    await sleep(1500);
    const after = await counter.read();
    out[name] = { pg: pgDelta(after, before), store: relay?.take() ?? {} };
    log(`[cost] ${name}: ${JSON.stringify(out[name])}`);
    if (args.statements) {
      for (const [query, calls] of await counter.perStatement()) {
        const n = calls - (beforeEach.get(query) ?? 0);
        if (n > 0) log(`[cost]   ${String(n).padStart(4)}  ${query}`);
      }
    }
    await rebase();
  };
  /** What happened so far is not the next step's (after a step, or a node's start-up queries). */
  const rebase = async () => {
    before = await counter.read();
    if (args.statements) beforeEach = await counter.perStatement();
    relay?.take();
  };
  try {
    // Background work of an idle node (the webhook queue's poll, schedules).
    await step('idle 10 s', () => sleep(8500));
    const layers = [layer(11, 300 * 1024), layer(12, 2 * MiB), layer(13, 12 * MiB)];
    const image = tinyImage(7);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPE,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: image.configDigest,
          size: image.config.length,
        },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: l.digest,
          size: l.data.length,
        })),
      }),
    );
    c.authorization = await token(node, [scope('team/app')], ADMIN);
    await step('push (3 layers: 0.3, 2, 12 MiB; config; manifest by tag)', async () => {
      for (const blob of [...layers, { data: image.config, digest: image.configDigest }]) {
        if (await c.blobExists('team/app', blob.digest)) continue;
        const loc = await c.startUpload('team/app');
        const r = await c.req('PATCH', loc.pathname + loc.search, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.data.length) },
          body: blob.data,
        });
        RegistryClient.expect(r, [202], 'PATCH');
        await c.finishUpload(c.locationPath(r, 'PATCH'), blob.digest, null, 0);
      }
      await c.putManifest('team/app', 'v1', manifest, MANIFEST_TYPE);
    });
    c.authorization = undefined;
    await step('pull (anonymous /token, manifest by tag, config, 3 layers)', async () => {
      c.authorization = await token(node, [scope('team/app', 'pull')]);
      const m = await c.req('GET', '/v2/team/app/manifests/v1', { headers: { accept: MANIFEST_TYPE } });
      RegistryClient.expect({ ...m, text: '' }, [200], 'GET manifest');
      for (const d of [image.configDigest, ...layers.map((l) => l.digest)]) {
        const r = await c.req('GET', `/v2/team/app/blobs/${d}`);
        RegistryClient.expect({ ...r, text: '' }, [200], `GET blob ${d}`);
      }
    });
    await step('1000 manifest GETs by tag (8 at a time)', async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next++ < 1000) {
            const r = await c.req('GET', '/v2/team/app/manifests/v1', { headers: { accept: MANIFEST_TYPE } });
            RegistryClient.expect({ ...r, text: '' }, [200], 'GET manifest');
          }
        }),
      );
    });
    out.connections = await counter.connections();
    out.rss = rssMiB(node.child.pid as number);
    if (relay) {
      // A second node on the same database and bucket, with storage.redirect: blob GETs answer
      // 307 to a presigned URL, and the client fetches the bytes from the store itself.
      const second = await startNode({ ...env, WHARF_STORAGE_REDIRECT: 'true' });
      try {
        await sleep(1500); // its start-up queries are not the pull's
        await rebase();
        await step('pull through a second node, storage.redirect: true (307 followed)', async () => {
          const auth = await token(second, [scope('team/app', 'pull')]);
          const m = await fetch(`${second.url}/v2/team/app/manifests/v1`, {
            headers: { authorization: auth, accept: MANIFEST_TYPE },
          });
          if (m.status !== 200) throw new Error(`GET manifest: ${m.status}`);
          await m.arrayBuffer();
          for (const d of [image.configDigest, ...layers.map((l) => l.digest)]) {
            const r = await fetch(`${second.url}/v2/team/app/blobs/${d}`, { headers: { authorization: auth } });
            if (r.status !== 200 || !r.redirected)
              throw new Error(`GET blob ${d}: ${r.status}, redirected ${r.redirected}`);
            await r.arrayBuffer();
          }
        });
      } finally {
        await second.cleanup();
      }
    }
  } finally {
    await c.pool.destroy();
    await counter.close();
    await node.cleanup();
    await relay?.close();
  }
  return out;
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const scaledLabel = `${args.database} + ${args.storage}`;
  const services: Services = { next: 1 };
  stopServices = async () => {
    await services.swift?.stop();
    await services.pg?.stop();
  };
  const meters: Record<string, () => number[]> = {};
  try {
    if (args.database === 'postgres') {
      log('starting PostgreSQL 15 (pg_stat_statements loaded)...');
      services.pg = await startPostgres();
      await enableStatementStats(services.pg.url, services.pg.dir, services.pg.port);
      meters.postgres = postgresPids(services.pg.dir);
    }
    if (args.storage === 's3') {
      log('starting Swift with s3api...');
      services.swift = await startSwift();
      const swift = services.swift;
      await new S3Driver({
        bucket: 'bench',
        region: swift.region,
        endpoint: swift.endpoint,
        forcePathStyle: true,
        accessKeyId: swift.accessKeyId,
        secretAccessKey: swift.secretAccessKey,
      }).client.send(new CreateBucketCommand({ Bucket: 'bench' }));
      const pids = pidsMentioning(swift.dir);
      meters.swift = () => pids;
    }
    const results: Record<string, NodeResult> = {};
    // --cost-only: only the per-node cost (with --statements, the SQL breakdown).
    if (!args['cost-only']) {
      const size = blobMiB * MiB;
      const series = (first: number): BigBlob[] =>
        Array.from({ length: reps }, (_, i) => ({ seed: first + i, size, digest: blobDigest(first + i, size) }));
      log(`hashing ${4 * reps} x ${blobMiB} MiB blobs...`);
      const connections = services.pg
        ? (url: string) => async () => {
            const counter = await PgCounter.open((services.pg as PgCluster).url, url);
            try {
              return await counter.connections();
            } finally {
              await counter.close();
            }
          }
        : undefined;
      const embedded = await prepareNode('sqlite + filesystem', {}, meters);
      const scaled = await prepareNode(scaledLabel, await scaledEnv(services), meters, connections);
      try {
        await measureBlobs(embedded, { monolithic: series(1000), chunked: series(2000) });
        await measureBlobs(scaled, { monolithic: series(3000), chunked: series(4000) });
        await measureRequests([embedded, scaled]);
      } finally {
        await finishNode(embedded);
        await finishNode(scaled);
      }
      results.embedded = embedded.result;
      results.scaled = scaled.result;
    }
    const cost = services.pg ? await measureCost(services, services.pg.url) : undefined;

    const keys = Object.keys(results.embedded?.values ?? {});
    const rows = keys.map((k) => {
      const a = results.embedded?.values[k];
      const b = results.scaled?.values[k];
      const ratio = a && b ? b / a : null;
      return { key: k, embedded: a ?? null, scaled: b ?? null, ratio };
    });
    const report = {
      generatedAt: new Date().toISOString(),
      command: `tsx bench/scale.ts ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cores: cpus().length, loadavg1mBefore: loadBefore, loadavg1mAfter: loadavg()[0] ?? 0 },
      config: { ...args, scaled: scaledLabel },
      rows,
      cpuCores: { embedded: results.embedded?.cpu, scaled: results.scaled?.cpu },
      rounds: { embedded: results.embedded?.rounds, scaled: results.scaled?.rounds },
      cost: cost ?? null,
    };
    await mkdir(dirname(args.out), { recursive: true });
    await writeFile(args.out, `${JSON.stringify(report, null, 2)}\n`);

    const fmt = (n: number | null) => (n === null ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
    process.stdout.write(`\nsqlite + filesystem vs ${scaledLabel}, ${blobMiB} MiB blobs, median of ${reps}\n`);
    process.stdout.write(
      `${'workload'.padEnd(30)} ${'sqlite+fs'.padStart(9)} ${scaledLabel.replace(/ /g, '').padStart(12)} ${'ratio'.padStart(7)}  (ratio = second / first; for ms, µs and MiB lower is better)\n`,
    );
    for (const r of rows) {
      const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
      process.stdout.write(
        `${r.key.padEnd(30)} ${fmt(r.embedded).padStart(9)} ${fmt(r.scaled).padStart(12)} ${ratio.padStart(7)}\n`,
      );
    }
    process.stdout.write('\nCPU in cores (1.0 = one core busy) during each workload:\n');
    for (const [which, byWorkload] of Object.entries(report.cpuCores)) {
      for (const [workload, groups] of Object.entries(byWorkload ?? {})) {
        const parts = Object.entries(groups).map(([g, v]) => `${g} ${v.toFixed(2)}`);
        process.stdout.write(`  ${which.padEnd(9)} ${workload.padEnd(24)} ${parts.join(', ')}\n`);
      }
    }
    if (cost) {
      process.stdout.write(`\nper-node cost (${scaledLabel}), counted on a node of its own:\n`);
      for (const [name, v] of Object.entries(cost)) {
        if (typeof v === 'number') {
          process.stdout.write(`  ${name}: ${v.toFixed(0)}\n`);
          continue;
        }
        const ops = Object.entries(v.store);
        const total = ops.reduce((n, [, k]) => n + k, 0);
        const store = total === 0 ? 'none' : `${total} (${ops.map(([op, k]) => `${op} ${k}`).join(', ')})`;
        process.stdout.write(
          `  ${name}\n    PostgreSQL: ${v.pg.statements} statements, ${v.pg.transactions} transactions, ${v.pg.writes} writes; object store: ${store}\n`,
        );
      }
    }
    const busy = Math.max(loadBefore, report.machine.loadavg1mAfter);
    if (busy > 1) process.stdout.write(`warning: 1-min load average reached ${busy.toFixed(1)}; figures are noisy\n`);
    process.stdout.write(`JSON written to ${args.out}\n`);
  } finally {
    await stopServices();
  }
}

/** Stops PostgreSQL and Swift: they run detached and would outlive an interrupted bench. */
let stopServices = async (): Promise<void> => undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void stopServices().finally(() => process.exit(130));
  });
}
// A closed stdout (`| head`) must not kill the bench before it stops the services.
process.stdout.on('error', () => undefined);

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
