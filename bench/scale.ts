// Scale-out bench (issue 12): Wharf on PostgreSQL + S3 (a local OpenStack Swift with s3api,
// test/support/swift.ts) next to the embedded default (SQLite + filesystem), in the same run,
// as ratios; then what one push and one pull cost PostgreSQL and the object store.
//   npm run bench -- --storage s3 --database postgres      (builds, then only this)
//   npx tsx bench/scale.ts [--storage s3|filesystem] [--database postgres|sqlite]
//                          [--size MiB] [--reps N] [--duration s] [--out FILE]
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
  cpu: Record<string, Record<string, number>>;
}

/** The same workloads on one node: big blobs, manifest GET (anonymous and signed in), /token. */
async function measureNode(
  label: string,
  env: NodeJS.ProcessEnv,
  meters: Record<string, () => number[]>,
  blobs: { monolithic: BigBlob[]; chunked: BigBlob[] },
): Promise<NodeResult> {
  const values: Record<string, number> = {};
  const cpu: Record<string, Record<string, number>> = {};
  const record = (key: string, value: number, unit: string) => {
    values[key] = value;
    log(`[${label}] ${key}: ${value.toFixed(value >= 100 ? 0 : 2)} ${unit}`);
  };
  const node = await startNode(env);
  const pid = node.child.pid as number;
  const groups = { wharf: () => [pid], ...meters };
  const c = new RegistryClient(node.url, 64);
  try {
    await sleep(1000);
    record('rss_start', rssMiB(pid), 'MiB');
    c.authorization = await token(node, [scope('bench/blob'), scope('bench/manifest')], ADMIN);

    let meter = cpuMeter(groups);
    const pushes = { push_monolithic: [] as number[], push_chunked: [] as number[] };
    for (const blob of blobs.monolithic) pushes.push_monolithic.push(await pushMonolithic(c, 'bench/blob', blob));
    for (const blob of blobs.chunked) pushes.push_chunked.push(await pushChunked(c, 'bench/blob', blob));
    cpu.push = meter.stop();
    record('push_monolithic', median(pushes.push_monolithic), 'MiB/s');
    record('push_chunked', median(pushes.push_chunked), 'MiB/s');
    meter = cpuMeter(groups);
    const pulls: number[] = [];
    for (let i = 0; i < reps; i++) pulls.push(await pullBlob(c, 'bench/blob', blobs.monolithic[0] as BigBlob));
    cpu.pull = meter.stop();
    record('pull', median(pulls), 'MiB/s');

    await pushImage(c, 'bench/manifest', 'latest', tinyImage(0));
    const url = `${node.url}/v2/bench/manifest/manifests/latest`;
    const anonymous = await token(node, [scope('bench/manifest', 'pull')]);
    const signedIn = await token(node, [scope('bench/manifest', 'pull')], ADMIN);
    const probe = await fetch(url, { headers: { authorization: anonymous, accept: MANIFEST_TYPE } });
    if (probe.status !== 200) throw new Error(`anonymous manifest GET: ${probe.status} (is the repository public?)`);
    if (!haveWrk()) throw new Error(`${WRK_BIN} not installed (apt-get install -y wrk)`);
    // Warm-up (JIT, the manifest cache, the pool's connections), not counted.
    await wrk(url, { accept: MANIFEST_TYPE, authorization: anonymous }, 2, 32);
    for (const [key, auth] of [
      ['manifest_get_anonymous', anonymous],
      ['manifest_get_signed_in', signedIn],
    ] as const) {
      meter = cpuMeter(groups);
      const r = await wrk(url, { accept: MANIFEST_TYPE, authorization: auth }, durationS, 32);
      cpu[key] = meter.stop();
      record(key, r.perSec, 'req/s');
      record(`${key}_p99`, r.p99ms, 'ms');
    }
    // Every `docker pull` asks /token first; anonymously that is a repository lookup.
    meter = cpuMeter(groups);
    const t = await wrk(`${node.url}/token?service=wharf&scope=${scope('bench/manifest', 'pull')}`, {}, durationS, 32);
    cpu.token_anonymous = meter.stop();
    record('token_anonymous', t.perSec, 'req/s');
    record('rss_end', rssMiB(pid), 'MiB');
    record('rss_hwm', hwmMiB(pid), 'MiB');
  } finally {
    await c.pool.destroy();
    await node.cleanup();
  }
  return { values, cpu };
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
  relay?.take();
  const step = async (name: string, fn: () => Promise<void>) => {
    await fn();
    await sleep(1500);
    const after = await counter.read();
    out[name] = { pg: pgDelta(after, before), store: relay?.take() ?? {} };
    log(`[cost] ${name}: ${JSON.stringify(out[name])}`);
    before = await counter.read();
  };
  try {
    await step('idle 1.5 s', async () => undefined);
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
    const size = blobMiB * MiB;
    const series = (first: number): BigBlob[] =>
      Array.from({ length: reps }, (_, i) => ({ seed: first + i, size, digest: blobDigest(first + i, size) }));
    log(`hashing ${4 * reps} x ${blobMiB} MiB blobs...`);
    const results: Record<string, NodeResult> = {};
    results.embedded = await measureNode('sqlite + filesystem', {}, meters, {
      monolithic: series(1000),
      chunked: series(2000),
    });
    results.scaled = await measureNode(scaledLabel, await scaledEnv(services), meters, {
      monolithic: series(3000),
      chunked: series(4000),
    });
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
      cost: cost ?? null,
    };
    await mkdir(dirname(args.out), { recursive: true });
    await writeFile(args.out, `${JSON.stringify(report, null, 2)}\n`);

    const fmt = (n: number | null) => (n === null ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
    process.stdout.write(`\nsqlite + filesystem vs ${scaledLabel}, ${blobMiB} MiB blobs, median of ${reps}\n`);
    for (const r of rows) {
      const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
      process.stdout.write(
        `${r.key.padEnd(30)} ${fmt(r.embedded).padStart(8)} ${fmt(r.scaled).padStart(8)} ${ratio.padStart(7)}\n`,
      );
    }
    process.stdout.write('\nCPU in cores (1.0 = one core busy) during each workload:\n');
    for (const [which, byWorkload] of Object.entries(report.cpuCores)) {
      for (const [workload, groups] of Object.entries(byWorkload ?? {})) {
        const parts = Object.entries(groups).map(([g, v]) => `${g} ${v.toFixed(2)}`);
        process.stdout.write(`  ${which.padEnd(9)} ${workload.padEnd(24)} ${parts.join(', ')}\n`);
      }
    }
    if (cost) process.stdout.write(`\nper-node cost (${scaledLabel}):\n${JSON.stringify(cost, null, 1)}\n`);
    const busy = Math.max(loadBefore, report.machine.loadavg1mAfter);
    if (busy > 1) process.stdout.write(`warning: 1-min load average reached ${busy.toFixed(1)}; figures are noisy\n`);
    process.stdout.write(`JSON written to ${args.out}\n`);
  } finally {
    await services.swift?.stop();
    await services.pg?.stop();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
