// Wharf vs. the reference registry (docker-registry 2.8): same workloads, one run.
//   npm run bench                         (builds, then both servers)
//   npx tsx bench/run.ts --only reference (no build needed)
// Options: --only reference|wharf, --size MiB (or BENCH_BLOB_MB), --duration s
// (or BENCH_DURATION), --reps N (or BENCH_REPS; big-blob repetitions, median reported),
// --tags N, --repos N, --out FILE (default bench/results/latest.json).
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegistryClient } from './client.js';
import { blobDigest, MANIFEST_TYPE, tinyImage } from './data.js';
import { hwmMiB, REFERENCE_BIN, referenceVersion, rssMiB, type ServerKind, sampleRss, startServer } from './servers.js';
import {
  type BigBlob,
  blobHeadRate,
  manifestGetRate,
  percentile,
  pullBlob,
  pushChunked,
  pushImage,
  pushMonolithic,
  pushStreamed,
  runCount,
  smallImagePushRate,
  timeListing,
} from './workloads.js';
import { haveWrk, WRK_BIN, wrk } from './wrk.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Better = 'higher' | 'lower';
interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: Better;
  /** Latencies get reference/Wharf ("times faster"); everything else Wharf/reference. */
  latency?: boolean;
}

function metricDefs(blobMiB: number, tags: number, repos: number): MetricDef[] {
  return [
    {
      key: 'push_monolithic',
      label: `blob push, POST + one PUT (${blobMiB} MiB, median)`,
      unit: 'MiB/s',
      better: 'higher',
    },
    {
      key: 'push_chunked',
      label: `blob push, 16 MiB PATCHes + PUT (${blobMiB} MiB, median)`,
      unit: 'MiB/s',
      better: 'higher',
    },
    {
      key: 'push_streamed',
      label: `blob push, one chunked-TE PATCH + PUT (${blobMiB} MiB, median)`,
      unit: 'MiB/s',
      better: 'higher',
    },
    { key: 'pull', label: `blob pull, GET (${blobMiB} MiB, median)`, unit: 'MiB/s', better: 'higher' },
    { key: 'manifest_get', label: 'manifest GET, concurrency 32', unit: 'req/s', better: 'higher' },
    { key: 'manifest_get_p99', label: 'manifest GET p99 latency', unit: 'ms', better: 'lower', latency: true },
    { key: 'manifest_get_wrk', label: 'manifest GET by tag, wrk -c32', unit: 'req/s', better: 'higher' },
    {
      key: 'manifest_get_wrk_p99',
      label: 'manifest GET by tag, wrk p99 latency',
      unit: 'ms',
      better: 'lower',
      latency: true,
    },
    { key: 'blob_head', label: 'blob HEAD, concurrency 32', unit: 'req/s', better: 'higher' },
    { key: 'blob_head_p99', label: 'blob HEAD p99 latency', unit: 'ms', better: 'lower', latency: true },
    {
      key: 'image_push',
      label: 'small image push (HEAD/POST/PUT x2 + manifest), conc. 4',
      unit: 'images/s',
      better: 'higher',
    },
    { key: 'tag_put', label: `manifest PUT by tag (${tags} tags), conc. 8`, unit: 'tags/s', better: 'higher' },
    { key: 'tags_list', label: `tags list, ${tags} tags (median)`, unit: 'ms', better: 'lower', latency: true },
    {
      key: 'repo_create',
      label: `repo create (2 mounts + manifest, ${repos}), conc. 8`,
      unit: 'repos/s',
      better: 'higher',
    },
    {
      key: 'catalog',
      label: `catalog ?n=1000, ${repos + 4} repos exist (median)`,
      unit: 'ms',
      better: 'lower',
      latency: true,
    },
    { key: 'rss_start', label: 'RSS 1 s after start', unit: 'MiB', better: 'lower' },
    { key: 'rss_idle', label: 'RSS idle (15 s after start)', unit: 'MiB', better: 'lower' },
    { key: 'rss_push_peak', label: `RSS peak during ${blobMiB} MiB pushes`, unit: 'MiB', better: 'lower' },
    { key: 'rss_pull_peak', label: `RSS peak during ${blobMiB} MiB pull`, unit: 'MiB', better: 'lower' },
    { key: 'rss_hwm', label: 'RSS lifetime peak (VmHWM) at end', unit: 'MiB', better: 'lower' },
  ];
}

interface Config {
  only: ServerKind | null;
  blobMiB: number;
  durationS: number;
  tags: number;
  repos: number;
  reps: number;
  out: string;
}

interface ServerResult {
  values: Record<string, number>;
  errors: Record<string, string>;
  details: Record<string, unknown>;
}

function parseConfig(): Config {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      size: { type: 'string' },
      duration: { type: 'string' },
      tags: { type: 'string' },
      repos: { type: 'string' },
      reps: { type: 'string' },
      out: { type: 'string' },
    },
    allowPositionals: false,
  });
  const only = values.only ?? null;
  if (only !== null && only !== 'reference' && only !== 'wharf') throw new Error('--only must be reference or wharf');
  const num = (v: string | undefined, env: string | undefined, dflt: number): number => {
    const n = Number(v ?? env ?? dflt);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`bad number: ${v ?? env}`);
    return n;
  };
  return {
    only,
    blobMiB: Math.round(num(values.size, process.env.BENCH_BLOB_MB, 512)),
    durationS: num(values.duration, process.env.BENCH_DURATION, 5),
    tags: Math.round(num(values.tags, undefined, 1000)),
    repos: Math.round(num(values.repos, undefined, 1000)),
    reps: Math.round(num(values.reps, process.env.BENCH_REPS, 3)),
    out: values.out ?? join(repoRoot, 'bench/results/latest.json'),
  };
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

type BigBlobs = Record<'push_monolithic' | 'push_chunked' | 'push_streamed', BigBlob[]>;
type Pusher = (c: RegistryClient, repo: string, blob: BigBlob) => Promise<number>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return percentile(s, 50);
}

async function benchServer(kind: ServerKind, cfg: Config, blobs: BigBlobs): Promise<ServerResult> {
  const result: ServerResult = { values: {}, errors: {}, details: {} };
  const { values, errors, details } = result;
  const tag = `[${kind}]`;
  const step = async (keys: string[], fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      for (const k of keys) errors[k] = msg;
      log(`${tag} ${keys.join(', ')}: FAILED ${msg}`);
    }
  };
  const record = (key: string, value: number, unit: string): void => {
    values[key] = value;
    log(`${tag} ${key}: ${fmt(value)} ${unit}`);
  };

  const server = await startServer(kind, repoRoot);
  const c = new RegistryClient(server.origin, 64);
  const durationMs = cfg.durationS * 1000;
  try {
    log(`${tag} listening on ${server.origin} (pid ${server.pid})`);
    await sleep(1000);
    record('rss_start', rssMiB(server.pid), 'MiB');
    // Idle means idle: V8's memory reducer gives start-up garbage back some seconds after start.
    await sleep(14000);
    record('rss_idle', rssMiB(server.pid), 'MiB');

    const pushSampler = sampleRss(server.pid);
    // Big transfers are noisy on a small VM: median of `reps` runs, each with its own blob.
    const pushers: [keyof BigBlobs, Pusher][] = [
      ['push_monolithic', pushMonolithic],
      ['push_chunked', pushChunked],
      ['push_streamed', pushStreamed],
    ];
    let pullable: BigBlob | undefined;
    for (const [key, push] of pushers) {
      await step([key], async () => {
        const runs: number[] = [];
        for (const blob of blobs[key]) runs.push(await push(c, 'bench/blob', blob));
        details[key] = runs;
        pullable ??= blobs[key][0];
        record(key, median(runs), 'MiB/s');
      });
    }
    record('rss_push_peak', pushSampler.stop(), 'MiB');

    // Pull a big blob that made it in (normally a monolithic one).
    const pullSampler = sampleRss(server.pid);
    await step(['pull'], async () => {
      const blob = pullable;
      if (blob === undefined) throw new Error('no big blob was pushed successfully');
      const runs: number[] = [];
      for (let i = 0; i < cfg.reps; i++) runs.push(await pullBlob(c, 'bench/blob', blob));
      details.pull = runs;
      record('pull', median(runs), 'MiB/s');
    });
    record('rss_pull_peak', pullSampler.stop(), 'MiB');

    const base = tinyImage(0);
    let baseOk = false;
    await step(
      [
        'manifest_get',
        'manifest_get_p99',
        'manifest_get_wrk',
        'manifest_get_wrk_p99',
        'blob_head',
        'blob_head_p99',
        'tag_put',
        'tags_list',
        'repo_create',
        'catalog',
      ],
      async () => {
        await pushImage(c, 'bench/manifest', 'latest', base);
        baseOk = true;
      },
    );
    if (baseOk) {
      await step(['manifest_get', 'manifest_get_p99'], async () => {
        const r = await manifestGetRate(c, 'bench/manifest', 'latest', durationMs, 32);
        details.manifest_get = r;
        record('manifest_get', r.perSec, 'req/s');
        record('manifest_get_p99', r.p99ms, 'ms');
      });
      // The same request from a neutral load generator in its own process (2 threads, 32 connections).
      await step(['manifest_get_wrk', 'manifest_get_wrk_p99'], async () => {
        if (!haveWrk()) throw new Error(`${WRK_BIN} not installed (apt-get install -y wrk)`);
        const r = await wrk(
          `${server.origin}/v2/bench/manifest/manifests/latest`,
          { accept: MANIFEST_TYPE },
          cfg.durationS,
          32,
        );
        details.manifest_get_wrk = r;
        record('manifest_get_wrk', r.perSec, 'req/s');
        record('manifest_get_wrk_p99', r.p99ms, 'ms');
      });
      await step(['blob_head', 'blob_head_p99'], async () => {
        const r = await blobHeadRate(c, 'bench/manifest', base.layerDigest, durationMs, 32);
        details.blob_head = r;
        record('blob_head', r.perSec, 'req/s');
        record('blob_head_p99', r.p99ms, 'ms');
      });
    }
    await step(['image_push'], async () => {
      const r = await smallImagePushRate(c, 'bench/small', durationMs, 4);
      details.image_push = r;
      record('image_push', r.perSec, 'images/s');
    });
    if (baseOk) {
      await step(['tag_put', 'tags_list'], async () => {
        await c.mountOrPush('bench/tags', 'bench/manifest', base.config, base.configDigest);
        await c.mountOrPush('bench/tags', 'bench/manifest', base.layer, base.layerDigest);
        const names = Array.from({ length: cfg.tags }, (_, i) => `t${String(i).padStart(5, '0')}`);
        record(
          'tag_put',
          await runCount(cfg.tags, 8, (i) =>
            c.putManifest('bench/tags', names[i] as string, base.manifest, MANIFEST_TYPE),
          ),
          'tags/s',
        );
        const r = await timeListing(c, `/v2/bench/tags/tags/list?n=${cfg.tags}`, 'tags', cfg.tags, 20);
        details.tags_list = r;
        if (r.items !== cfg.tags) throw new Error(`tags list returned ${r.items} tags, expected ${cfg.tags}`);
        record('tags_list', r.medianMs, 'ms');
      });
      await step(['repo_create', 'catalog'], async () => {
        let mounted = 0;
        const rate = await runCount(cfg.repos, 8, async (i) => {
          const repo = `cat/r${String(i).padStart(5, '0')}`;
          await c.mountOrPush(repo, 'bench/manifest', base.config, base.configDigest);
          await c.mountOrPush(repo, 'bench/manifest', base.layer, base.layerDigest);
          await c.putManifest(repo, 'latest', base.manifest, MANIFEST_TYPE);
          mounted++;
        });
        record('repo_create', rate, 'repos/s');
        // 4 more repositories ("bench/...") exist from other workloads; n=1000 is also
        // docker-registry's default catalog.maxentries, the most it accepts.
        const want = Math.min(1000, cfg.repos);
        const r = await timeListing(c, `/v2/_catalog?n=${want}`, 'repositories', want, 20);
        details.catalog = { ...r, reposCreated: mounted };
        if (r.items < want) throw new Error(`catalog listed ${r.items} repositories, expected ${want}`);
        record('catalog', r.medianMs, 'ms');
      });
    }
    record('rss_hwm', hwmMiB(server.pid), 'MiB');
  } finally {
    await c.pool.destroy();
    await server.stop();
  }
  return result;
}

function ratioOf(def: MetricDef, ref: number | undefined, wharf: number | undefined): number | null {
  if (ref === undefined || wharf === undefined || ref <= 0 || wharf <= 0) return null;
  return def.latency === true ? ref / wharf : wharf / ref;
}

function ratioMeaning(def: MetricDef): string {
  if (def.latency === true) return 'ref/Wharf = x faster';
  if (def.better === 'lower') return 'Wharf/ref, lower=better';
  return 'Wharf/ref, higher=better';
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]): string =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  const [head, ...body] = rows;
  return [line(head ?? []), sep, ...body.map(line)].join('\n');
}

/**
 * JSON laid out the way biome formats it (the file sits under bench/, which `npm run lint`
 * checks): numbers rounded to 3 decimals, short arrays of numbers on one line.
 */
function toJson(value: unknown): string {
  const rounded = JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v),
    2,
  );
  const collapsed = rounded.replace(
    /^( *)("[^"]*": )?\[\n([-\d.e+,\s]+)\n *\]/gm,
    (whole, indent: string, key = '', items: string) => {
      const line = `${indent}${key}[${items.trim().split(/,\s*/).join(', ')}]`;
      return line.length <= 120 ? line : whole;
    },
  );
  return `${collapsed}\n`;
}

async function main(): Promise<void> {
  const cfg = parseConfig();
  const kinds: ServerKind[] = cfg.only === null ? ['reference', 'wharf'] : [cfg.only];
  const defs = metricDefs(cfg.blobMiB, cfg.tags, cfg.repos);
  const started = performance.now();
  // Other work on the machine skews everything here; record it so results can be judged.
  const loadBefore = loadavg()[0] ?? 0;

  const size = cfg.blobMiB * 1024 * 1024;
  log(`hashing ${3 * cfg.reps} x ${cfg.blobMiB} MiB generated blobs...`);
  // Distinct content per push, so no push can be answered from an existing blob.
  const series = (first: number): BigBlob[] =>
    Array.from({ length: cfg.reps }, (_, i) => ({ seed: first + i, size, digest: blobDigest(first + i, size) }));
  const blobs: BigBlobs = { push_monolithic: series(100), push_chunked: series(200), push_streamed: series(300) };
  log(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const results: Partial<Record<ServerKind, ServerResult>> = {};
  const startErrors: Partial<Record<ServerKind, string>> = {};
  for (const kind of kinds) {
    if (kind === 'wharf' && !existsSync(join(repoRoot, 'dist/cli/main.js'))) {
      startErrors[kind] = 'dist/cli/main.js missing (run npm run build)';
      log(`[wharf] skipped: ${startErrors[kind]}`);
      continue;
    }
    try {
      results[kind] = await benchServer(kind, cfg, blobs);
    } catch (err) {
      startErrors[kind] = err instanceof Error ? err.message : String(err);
      log(`[${kind}] FAILED: ${startErrors[kind]}`);
    }
  }

  const cell = (kind: ServerKind, key: string): string => {
    if (!kinds.includes(kind)) return 'n/a';
    const r = results[kind];
    if (r === undefined) return 'not run';
    if (r.errors[key] !== undefined) return 'error';
    return fmt(r.values[key]);
  };
  const rows: string[][] = [['workload', 'unit', 'reference', 'Wharf', 'ratio', 'ratio meaning']];
  const jsonRows = defs.map((def) => {
    const ref = results.reference?.values[def.key];
    const wharf = results.wharf?.values[def.key];
    const ratio = ratioOf(def, ref, wharf);
    rows.push([
      def.label,
      def.unit,
      cell('reference', def.key),
      cell('wharf', def.key),
      ratio === null ? '-' : `${ratio.toFixed(2)}x`,
      ratioMeaning(def),
    ]);
    return { ...def, reference: ref ?? null, wharf: wharf ?? null, ratio, ratioMeaning: ratioMeaning(def) };
  });

  const totalS = (performance.now() - started) / 1000;
  const cpu = cpus();
  const report = {
    generatedAt: new Date().toISOString(),
    command: `tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    totalSeconds: totalS,
    machine: {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
      loadavg1mBefore: loadBefore,
      loadavg1mAfter: loadavg()[0] ?? 0,
    },
    reference: { binary: REFERENCE_BIN, version: referenceVersion() },
    config: cfg,
    rows: jsonRows,
    servers: { reference: results.reference ?? null, wharf: results.wharf ?? null },
    startErrors,
  };
  await mkdir(dirname(cfg.out), { recursive: true });
  await writeFile(cfg.out, toJson(report));

  process.stdout.write(`\n${table(rows)}\n\n`);
  process.stdout.write(
    `${report.machine.cpu}, ${report.machine.cores} cores, node ${process.version}; reference: ${report.reference.version}\n`,
  );
  const busy = Math.max(report.machine.loadavg1mBefore, report.machine.loadavg1mAfter);
  if (busy > 1) {
    process.stdout.write(
      `warning: 1-min load average reached ${busy.toFixed(1)}; other work was running, figures are noisy\n`,
    );
  }
  for (const [kind, msg] of Object.entries(startErrors))
    process.stdout.write(`${kind} not measured: ${msg.split('\n')[0]}\n`);
  for (const kind of kinds) {
    for (const [key, msg] of Object.entries(results[kind]?.errors ?? {}))
      process.stdout.write(`${kind} ${key} error: ${msg.split('\n')[0]}\n`);
  }
  process.stdout.write(`total ${totalS.toFixed(0)} s; JSON written to ${cfg.out}\n`);
  if (Object.keys(startErrors).length > 0) process.exitCode = 1;
}

// Servers are killed by stop() in benchServer's finally, and by the exit hook in servers.ts
// on anything unexpected; signals are turned into a normal exit so that hook runs.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
