// The image tool against the Docker engine: pull, push, save and load of the same ~200 MB
// four-layer image through the same kind of Wharf server, side by side in one run.
//   npx tsx bench/image-tool.ts [--reps N] [--layer-mb N] [--out FILE]
// Needs root, Debian's docker.io and busybox-static (the test engine of test/support/dockerd.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../test/support/dockerd.js';
import { prngBytes } from '../test/support/generated-blob.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../test/support/server.js';
import { removeTmpDir, runOk, tmpDir } from '../test/support/tools.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TIMEOUT = 15 * 60_000;
const OPERATIONS = ['pull', 'push', 'save', 'load'] as const;
type Operation = (typeof OPERATIONS)[number];

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

function wharf(args: string[]): Promise<unknown> {
  return runOk(process.execPath, [WHARF_BIN, ...args], { timeoutMs: TIMEOUT });
}

/** Builds the image in Docker (busybox + 4 layers of incompressible data) and pushes it to `server`. */
async function prepareImage(d: Dockerd, server: WharfProcess, layerMiB: number): Promise<string> {
  await makeBusyboxImage(d, 'bench-image:0');
  for (let i = 1; i <= 4; i++) {
    await commitLayer(
      d,
      `bench-image:${i - 1}`,
      `bench-image:${i}`,
      `data/layer-${i}.bin`,
      prngBytes(1000 + i, layerMiB * 2 ** 20),
    );
  }
  const ref = `${server.host}/bench/image:1`;
  await d.dockerOk(['tag', 'bench-image:4', ref]);
  await d.dockerOk(['push', ref], { timeoutMs: TIMEOUT });
  for (let i = 0; i <= 4; i++) await d.dockerOk(['rmi', `bench-image:${i}`]);
  await d.dockerOk(['rmi', ref]);
  return ref;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { reps: { type: 'string' }, 'layer-mb': { type: 'string' }, out: { type: 'string' } },
  });
  const reps = Number(values.reps ?? process.env.BENCH_REPS ?? 3);
  const layerMiB = Number(values['layer-mb'] ?? 50);
  const out = values.out ?? join(repoRoot, 'bench/results/image-tool.json');
  const loadBefore = loadavg()[0] ?? 0;

  log('starting a private dockerd and a Wharf server...');
  const [d, source] = await Promise.all([startDockerd(), startWharf()]);
  const scratch = await tmpDir('wharf-bench-tool-');
  const times: Record<'docker' | 'wharf', Record<Operation, number[]>> = {
    docker: { pull: [], push: [], save: [], load: [] },
    wharf: { pull: [], push: [], save: [], load: [] },
  };
  try {
    log(`building a 4 x ${layerMiB} MiB image in Docker and pushing it to ${source.host}...`);
    const ref = await prepareImage(d, source, layerMiB);
    for (let rep = 1; rep <= reps; rep++) {
      log(`rep ${rep}/${reps}`);
      // Each tool pushes to a registry of its own that has never seen the layers.
      const [dockerTarget, wharfTarget] = await Promise.all([startWharf(), startWharf()]);
      try {
        const dockerFile = join(scratch, `docker-${rep}.tar`);
        const dockerPushed = `${dockerTarget.host}/bench/copy:1`;
        times.docker.pull.push(await timed(() => d.dockerOk(['pull', ref], { timeoutMs: TIMEOUT })));
        await d.dockerOk(['tag', ref, dockerPushed]);
        times.docker.push.push(await timed(() => d.dockerOk(['push', dockerPushed], { timeoutMs: TIMEOUT })));
        times.docker.save.push(await timed(() => d.dockerOk(['save', '-o', dockerFile, ref], { timeoutMs: TIMEOUT })));
        await d.dockerOk(['rmi', ref, dockerPushed]);
        times.docker.load.push(await timed(() => d.dockerOk(['load', '-i', dockerFile], { timeoutMs: TIMEOUT })));
        await d.dockerOk(['rmi', ref]);

        const root = join(scratch, `root-${rep}`);
        const loadRoot = join(scratch, `load-root-${rep}`);
        const wharfFile = join(scratch, `wharf-${rep}.tar`);
        const wharfPushed = `${wharfTarget.host}/bench/copy:1`;
        times.wharf.pull.push(await timed(() => wharf(['pull', '--root', root, ref])));
        await wharf(['tag', '--root', root, ref, wharfPushed]);
        times.wharf.push.push(await timed(() => wharf(['push', '--root', root, wharfPushed])));
        times.wharf.save.push(await timed(() => wharf(['save', '--root', root, '-o', wharfFile, ref])));
        times.wharf.load.push(await timed(() => wharf(['load', '--root', loadRoot, '-i', wharfFile])));
        await Promise.all([root, loadRoot, dockerFile, wharfFile].map((p) => removeTmpDir(p)));
      } finally {
        await Promise.all([dockerTarget.cleanup(), wharfTarget.cleanup()]);
      }
    }
  } finally {
    await Promise.all([d.stop(), source.cleanup(), removeTmpDir(scratch)]);
  }

  const imageMiB = 4 * layerMiB;
  const rows = OPERATIONS.map((op) => {
    const docker = median(times.docker[op]);
    const wharfS = median(times.wharf[op]);
    return { operation: op, dockerSeconds: docker, wharfSeconds: wharfS, ratio: docker / wharfS };
  });
  const report = {
    generatedAt: new Date().toISOString(),
    image: `busybox + 4 layers of ${layerMiB} MiB incompressible data (${imageMiB} MiB)`,
    reps,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    loadavg1m: { before: loadBefore, after: loadavg()[0] ?? 0 },
    rows,
    raw: times,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nimage tool vs docker, ${report.image}, median of ${reps}\n`);
  process.stdout.write(
    'operation  docker s  wharf s  ratio (docker time / wharf time; >= 1.0 means Wharf is as fast)\n',
  );
  for (const r of rows) {
    process.stdout.write(
      `${r.operation.padEnd(9)}  ${r.dockerSeconds.toFixed(2).padStart(8)}  ${r.wharfSeconds.toFixed(2).padStart(7)}  ${r.ratio.toFixed(2)}x\n`,
    );
  }
  process.stdout.write(`JSON written to ${out}\n`);
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
