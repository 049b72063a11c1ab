// The pull-through cache (issue 13): one image pulled over HTTP straight from a remote (the
// reference registry), then through Wharf cold (Wharf fetches and stores while it streams) and
// warm (from Wharf's store). Same run, same machine; medians of --reps fresh images.
// With --remote-rate (nginx's limit_rate, e.g. 50m = 50 MB/s per response) the remote is
// reached through nginx, as a registry across a network is, by the direct pulls and Wharf alike.
//   npx tsx bench/proxy.ts [--reps N] [--layers N] [--layer-mb N] [--remote-rate R]   (after npm run build)
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Nginx, startNginx } from '../test/support/nginx.js';
import { type RunningServer, startServer } from './servers.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    layers: { type: 'string', default: '4' },
    'layer-mb': { type: 'string', default: '16' },
    'remote-rate': { type: 'string', default: '' },
    out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'proxy.json') },
  },
});
const reps = Number(values.reps);
const layerCount = Number(values.layers);
const layerBytes = Number(values['layer-mb']) * 1024 * 1024;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(origin: string, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  // POST then one PUT: the reference (2.8) does not take a monolithic POST.
  const start = await fetch(`${origin}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location') ?? '', origin);
  location.searchParams.set('digest', digest);
  const res = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (res.status !== 201) throw new Error(`push ${digest}: ${res.status} ${await res.text()}`);
  return { digest, size: bytes.length };
}

/** A fresh image (random layers) at the remote. */
async function pushImage(origin: string, repo: string): Promise<void> {
  const layers = [];
  for (let i = 0; i < layerCount; i++) {
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      ...(await pushBlob(origin, repo, randomBytes(layerBytes))),
    });
  }
  const config = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    ...(await pushBlob(origin, repo, Buffer.from('{}'))),
  };
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config, layers });
  const res = await fetch(`${origin}/v2/${repo}/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': MANIFEST },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest: ${res.status} ${await res.text()}`);
}

/** A client's pull: the manifest by tag, then every blob in parallel, read to the end. Returns ms. */
async function pull(origin: string, repo: string): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${origin}/v2/${repo}/manifests/v1`, { headers: { accept: MANIFEST } });
  if (res.status !== 200) throw new Error(`pull ${origin}/${repo}: ${res.status} ${await res.text()}`);
  const m = (await res.json()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
  await Promise.all(
    [m.config, ...m.layers].map(async (d) => {
      const blob = await fetch(`${origin}/v2/${repo}/blobs/${d.digest}`);
      if (blob.status !== 200 || !blob.body) throw new Error(`blob ${d.digest}: ${blob.status}`);
      for await (const _ of blob.body) {
        // read to the end
      }
    }),
  );
  return performance.now() - start;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  let remote: RunningServer | undefined;
  let nginx: Nginx | undefined;
  let wharf: RunningServer | undefined;
  try {
    remote = await startServer('reference', repoRoot);
    // Images are pushed to the remote itself; pulls (direct and Wharf's) go where a client would.
    let pullOrigin = remote.origin;
    if (values['remote-rate'] !== '') {
      nginx = await startNginx({ upstream: new URL(remote.origin).host, limitRate: values['remote-rate'] });
      pullOrigin = nginx.url;
    }
    wharf = await startServer('wharf', repoRoot, {
      WHARF_PROXY_REMOTES: JSON.stringify([{ name: 'bench', url: pullOrigin, prefix: 'cache/bench' }]),
    });
    // A running server has compiled its hot paths and holds a connection to the remote, as the
    // remote has warmed its caches: one unmeasured cold pull first.
    await pushImage(remote.origin, 'bench/warmup');
    await pull(wharf.origin, 'cache/bench/bench/warmup');
    const direct: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < reps; i++) {
      const repo = `bench/img${i}`;
      await pushImage(remote.origin, repo);
      await pull(pullOrigin, repo); // the remote's own caches warm, as for the others
      direct.push(await pull(pullOrigin, repo));
      cold.push(await pull(wharf.origin, `cache/bench/${repo}`));
      warm.push(await pull(wharf.origin, `cache/bench/${repo}`));
    }
    const result = {
      image: `${layerCount} × ${values['layer-mb']} MiB layers`,
      /** nginx limit_rate per response between the clients and the remote; '' = loopback, no limit. */
      remote_rate: values['remote-rate'],
      reps,
      direct_ms: median(direct),
      cold_ms: median(cold),
      warm_ms: median(warm),
      /** ≥ 1.0 wanted: the warm pull through Wharf at least as fast as the direct one. */
      warm_speedup: median(direct) / median(warm),
      /** ≤ 1.2 wanted: a cold pull through Wharf at most 1.2× the direct time. */
      cold_ratio: median(cold) / median(direct),
      runs: { direct, cold, warm },
    };
    await mkdir(dirname(values.out), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
    const f = (ms: number) => `${ms.toFixed(0)} ms`;
    process.stdout.write(
      [
        `pull-through cache, ${result.image}, median of ${reps}, remote ${result.remote_rate === '' ? 'on loopback' : `at ${result.remote_rate}B/s per response (nginx)`}:`,
        `  direct from the remote  ${f(result.direct_ms)}`,
        `  through Wharf, cold     ${f(result.cold_ms)}  (${result.cold_ratio.toFixed(2)}× direct; target ≤ 1.2×)`,
        `  through Wharf, warm     ${f(result.warm_ms)}  (${result.warm_speedup.toFixed(2)}× as fast as direct; target ≥ 1.0×)`,
        '',
      ].join('\n'),
    );
  } finally {
    await wharf?.stop();
    await nginx?.stop();
    await remote?.stop();
  }
}

await main();
