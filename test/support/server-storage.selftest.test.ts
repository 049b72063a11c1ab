// Checks the test harness itself: a `wharf serve` of startWharf keeps its blobs where the run
// says. In `npm test` (and the `postgres` project) in its data directory; in the `postgres+s3`
// project of `npm run test:postgres` (WHARF_TEST_STORAGE=s3) in a bucket of the run's Swift
// store and not on the node's disk, and a server restarted on the same data directory finds the
// same bucket. Without this the S3 leg could silently run on the filesystem.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, expect, it } from 'vitest';
import { startWharf, testDatabaseEnv, type WharfProcess } from './server.js';
import { S3_ENDPOINT_ENV, swiftDriver } from './swift.js';
import { removeTmpDir, tmpDir } from './tools.js';

const onS3 = process.env.WHARF_TEST_STORAGE === 's3';
let wharf: WharfProcess | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await wharf?.stop();
  if (dataDir) await removeTmpDir(dataDir);
});

it(`a test server keeps its blobs ${onS3 ? 'in its S3 bucket, the same after a restart' : 'in its data directory'}`, async () => {
  dataDir = await tmpDir('wharf-storage-selftest-');
  wharf = await startWharf({ dataDir });
  const blob = randomBytes(4096);
  const hex = createHash('sha256').update(blob).digest('hex');
  const digest = `sha256:${hex}`;
  const put = await fetch(`${wharf.url}/v2/selftest/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob,
  });
  expect(put.status).toBe(201);
  const onDisk = join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  if (!onS3) {
    expect(await readFile(onDisk)).toEqual(blob);
    return;
  }
  await expect(readFile(onDisk)).rejects.toThrow(/ENOENT/);
  const bucket = (await testDatabaseEnv(dataDir)).WHARF_STORAGE_S3_BUCKET ?? '';
  const s3 = swiftDriver(process.env[S3_ENDPOINT_ENV] ?? '', bucket);
  try {
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'blobs/' }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toContain(`blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
  } finally {
    s3.client.destroy();
  }
  await wharf.stop();
  wharf = await startWharf({ dataDir });
  const got = await fetch(`${wharf.url}/v2/selftest/blobs/${digest}`);
  expect(got.status).toBe(200);
  expect(Buffer.from(await got.arrayBuffer())).toEqual(blob);
});
