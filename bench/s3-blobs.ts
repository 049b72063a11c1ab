// Blob push and pull throughput through Wharf on S3 (a local OpenStack Swift with s3api,
// test/support/swift.ts) next to Wharf on the filesystem, in the same run.
//   npm run build && npx tsx bench/s3-blobs.ts [--size MiB] [--reps N]
// Push: one monolithic POST ?digest= (the bytes stream, generated); pull: GET read to the end,
// streamed by the node, or with storage.redirect fetched from the store after the 307.
// Prints MiB/s (median of the reps) and each S3 figure as a ratio of the filesystem one.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3Driver } from '../src/storage/drivers/s3.js';
import { startWharf, type WharfProcess } from '../test/support/server.js';
import { startSwift } from '../test/support/swift.js';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '256' }, reps: { type: 'string', default: '3' } },
});
const MiB = 1024 * 1024;
const size = Number(values.size) * MiB;
const reps = Number(values.reps);

function* blobChunks(seed: number): Generator<Buffer> {
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + seed) & 0xff;
  for (let sent = 0; sent < size; sent += MiB) {
    chunk.writeUInt32BE(sent / MiB, 0); // every MiB differs
    yield Buffer.from(chunk.subarray(0, Math.min(MiB, size - sent)));
  }
}

function digestOf(seed: number): string {
  const hash = createHash('sha256');
  for (const c of blobChunks(seed)) hash.update(c);
  return `sha256:${hash.digest('hex')}`;
}

async function push(wharf: WharfProcess, repo: string, seed: number, digest: string): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${wharf.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: Readable.toWeb(Readable.from(blobChunks(seed))) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  if (res.status !== 201) throw new Error(`push: ${res.status} ${await res.text()}`);
  return (performance.now() - start) / 1000;
}

async function pull(wharf: WharfProcess, repo: string, digest: string): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${wharf.url}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200 || !res.body) throw new Error(`pull: ${res.status}`);
  const hash = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error('pull: wrong bytes');
  return (performance.now() - start) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const store = await startSwift();
const bucket = 'bench';
await new S3Driver({
  bucket,
  region: store.region,
  endpoint: store.endpoint,
  forcePathStyle: true,
  accessKeyId: store.accessKeyId,
  secretAccessKey: store.secretAccessKey,
}).client.send(new CreateBucketCommand({ Bucket: bucket }));
const s3 = {
  WHARF_STORAGE_DRIVER: 's3',
  WHARF_STORAGE_S3_BUCKET: bucket,
  WHARF_STORAGE_S3_ENDPOINT: store.endpoint,
  WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
  AWS_ACCESS_KEY_ID: store.accessKeyId,
  AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
};
const setups: [string, NodeJS.ProcessEnv][] = [
  ['filesystem', {}],
  ['s3 (stream)', { ...s3, WHARF_STORAGE_S3_PREFIX: 'stream' }],
  ['s3 (redirect)', { ...s3, WHARF_STORAGE_S3_PREFIX: 'redirect', WHARF_STORAGE_REDIRECT: 'true' }],
];
const results: { name: string; push: number; pull: number }[] = [];
try {
  for (const [name, env] of setups) {
    const wharf = await startWharf({ env });
    try {
      const pushes: number[] = [];
      const pulls: number[] = [];
      for (let r = 0; r < reps; r++) {
        const seed = r + 1 + results.length * 100;
        const digest = digestOf(seed);
        pushes.push(await push(wharf, 'bench/blobs', seed, digest));
        pulls.push(await pull(wharf, 'bench/blobs', digest));
      }
      const mbps = (s: number) => size / MiB / s;
      results.push({ name, push: mbps(median(pushes)), pull: mbps(median(pulls)) });
    } finally {
      await wharf.cleanup();
    }
  }
} finally {
  await store.stop();
}
const base = results[0];
process.stdout.write(`blob of ${size / MiB} MiB, median of ${reps}\n`);
for (const r of results) {
  const ratio = (x: number, b: number | undefined) => (b ? ` (${(x / b).toFixed(2)}x)` : '');
  process.stdout.write(
    `${r.name.padEnd(14)} push ${r.push.toFixed(0).padStart(5)} MiB/s${ratio(r.push, base?.push)}   pull ${r.pull.toFixed(0).padStart(5)} MiB/s${ratio(r.pull, base?.pull)}\n`,
  );
}
