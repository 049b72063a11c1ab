// Start-up of the `wharf` bin as shipped (the esbuild bundle, dist/bundle/cli/main.js) against
// `docker images` in the same run: median wall time of N runs and the peak RSS of each command.
//   npx tsx bench/startup.ts [--runs N] [--bin FILE] [--out FILE]     (after `npm run build`)
// --bin measures another entry instead, e.g. dist/cli/main.js (tsc's output, unbundled).
// docker's figure needs Debian's docker.io (a private engine from test/support/dockerd.ts);
// without it that row says why it is missing. Peak RSS needs GNU time (/usr/bin/time).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Dockerd, startDockerd } from '../test/support/dockerd.js';
import { haveTool, removeTmpDir, tmpDir } from '../test/support/tools.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_BIN = join(repoRoot, 'dist', 'bundle', 'cli', 'main.js');
const GNU_TIME = '/usr/bin/time';

interface Figure {
  command: string;
  medianSeconds: number | null;
  /** Median user + system CPU time: what the command costs when the machine is not busy. */
  medianCpuSeconds: number | null;
  peakRssMiB: number | null;
  note?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Median wall and CPU time of `runs` runs (after one warm-up run, which also fills V8's compile
 * cache where Node has one) and the peak RSS over them; CPU and RSS come from GNU time.
 */
function measure(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, runs: number): Figure {
  const gnuTime = existsSync(GNU_TIME);
  const once = () => {
    const [file, argv] = gnuTime ? [GNU_TIME, ['-f', '%U %S %M', cmd, ...args]] : [cmd, args];
    const start = performance.now();
    const r = spawnSync(file, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const seconds = (performance.now() - start) / 1000;
    const stderr = r.stderr.toString();
    if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${stderr}`);
    const [user, sys, kib] = (stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
    return { seconds, cpu: gnuTime ? (user ?? 0) + (sys ?? 0) : null, rss: gnuTime ? (kib ?? 0) / 1024 : null };
  };
  once();
  const samples = Array.from({ length: runs }, once);
  const cpu = samples.map((s) => s.cpu).filter((c) => c !== null);
  const rss = samples.map((s) => s.rss).filter((m) => m !== null);
  return {
    command: label,
    medianSeconds: median(samples.map((s) => s.seconds)),
    medianCpuSeconds: cpu.length > 0 ? median(cpu) : null,
    peakRssMiB: rss.length > 0 ? Math.max(...rss) : null,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string' }, bin: { type: 'string' }, out: { type: 'string' } },
  });
  const bin = resolve(values.bin ?? BUNDLE_BIN);
  const runs = Number(values.runs ?? process.env.BENCH_RUNS ?? 8);
  const out = values.out ?? join(repoRoot, 'bench/results/startup.json');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build first`);
  const loadBefore = loadavg()[0] ?? 0;
  const root = await tmpDir('wharf-bench-startup-');
  let dockerd: Dockerd | undefined;
  const figures: Figure[] = [];
  try {
    // An empty local store of its own, so that the figures do not depend on what is stored.
    const env = { ...process.env, WHARF_ROOT: root };
    for (const args of [['--version'], ['images'], ['ps']]) {
      figures.push(measure(`wharf ${args.join(' ')}`, process.execPath, [bin, ...args], env, runs));
    }
    if (haveTool('docker') && haveTool('dockerd')) {
      dockerd = await startDockerd();
      const docker = spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).stdout.trim();
      figures.push(measure('docker images', docker, ['images'], dockerd.env, runs));
    } else {
      figures.push({
        command: 'docker images',
        medianSeconds: null,
        medianCpuSeconds: null,
        peakRssMiB: null,
        note: 'no Docker engine here (apt-get install docker.io)',
      });
    }
  } finally {
    await dockerd?.stop();
    await removeTmpDir(root);
  }
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    bin,
    cpus: cpus().length,
    loadavg: { before: loadBefore, after: loadavg()[0] ?? 0 },
    runs,
    figures,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`start-up, median of ${runs} runs (node ${process.version}, load ${loadBefore.toFixed(1)}):`);
  console.log(`  ${'command'.padEnd(16)} ${'wall'.padStart(9)} ${'cpu'.padStart(9)} ${'peak RSS'.padStart(8)}`);
  for (const f of figures) {
    const time = f.medianSeconds === null ? '-' : `${f.medianSeconds.toFixed(3)} s`;
    const cpu = f.medianCpuSeconds === null ? '-' : `${f.medianCpuSeconds.toFixed(3)} s`;
    const rss = f.peakRssMiB === null ? '-' : `${f.peakRssMiB.toFixed(0)} MiB`;
    const row = `${f.command.padEnd(16)} ${time.padStart(9)} ${cpu.padStart(9)} ${rss.padStart(8)}`;
    console.log(`  ${row}${f.note ? `  (${f.note})` : ''}`);
  }
  console.log(`written to ${out}`);
}

await main();
