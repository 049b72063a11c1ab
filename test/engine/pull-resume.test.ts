// A `wharf pull` whose connection is cut in the middle of a big layer resumes with a Range
// request and ends with the right image: a TCP relay in front of a real `wharf serve` drops
// both sides once a few MB of the layer have gone through; in the second case the server itself
// is killed (-9) at that moment and started again on its data.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { blobStream } from '../support/generated-blob.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { removeTmpDir, run, tmpDir } from '../support/tools.js';

const FILE_SIZE = 24 * 1024 * 1024;
/** Bytes of answers relayed before the one cut. */
const CUT_AFTER = 8 * 1024 * 1024;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A gzip layer holding one big incompressible file, written to `file`; returns its digests. */
async function bigLayer(file: string): Promise<{ digest: string; diffId: string; size: number }> {
  const pack = tar.pack();
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  const entry = pack.entry({ name: 'data/big.bin', size: FILE_SIZE, mode: 0o644, mtime: new Date(0) });
  const body = pipeline(blobStream(7, 0, FILE_SIZE), entry).then(() => pack.finalize());
  const tee = new PassThrough();
  tee.on('data', (c: Buffer) => tarHash.update(c));
  const gzip = createGzip({ level: 1 });
  gzip.on('data', (c: Buffer) => gzHash.update(c));
  await Promise.all([body, pipeline(pack, tee, gzip, createWriteStream(file))]);
  return {
    digest: `sha256:${gzHash.digest('hex')}`,
    diffId: `sha256:${tarHash.digest('hex')}`,
    size: (await stat(file)).size,
  };
}

/**
 * A relay that cuts every connection once, after CUT_AFTER answer bytes; it notes the requests'
 * Range headers. `onCut` runs at that moment (to kill the server, say).
 */
function cuttingRelay(
  target: number,
  onCut?: () => void,
): Promise<{ server: Server; port: number; stats: { relayed: number; cut: boolean; ranges: string[] } }> {
  const stats = { relayed: 0, cut: false, ranges: [] as string[] };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const up = connect(target, '127.0.0.1');
    sockets.add(up);
    const drop = () => {
      client.destroy();
      up.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^range: *(.*)\r$/gim)) stats.ranges.push(m[1] ?? '');
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      stats.relayed += chunk.length;
      if (!stats.cut && stats.relayed > CUT_AFTER) {
        stats.cut = true;
        drop();
        onCut?.();
        return;
      }
      client.write(chunk);
    });
    client.on('error', drop);
    up.on('error', drop);
    client.on('close', drop);
    up.on('close', drop);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, stats });
    });
  });
}

describe('a pull cut off in the middle of a layer', () => {
  let wharfServer: WharfProcess;
  let dir: string;
  let layer: { digest: string; diffId: string; size: number };
  let imageId: string;

  beforeAll(async () => {
    [wharfServer, dir] = await Promise.all([startWharf(), tmpDir('wharf-resume-')]);
    const layerFile = join(dir, 'layer.tar.gz');
    layer = await bigLayer(layerFile);
    const client = new RegistryClient({ host: wharfServer.host });
    try {
      await client.pushBlob('ns/big', layer.digest, layer.size, async () => createReadStream(layerFile));
      const config = Buffer.from(
        JSON.stringify({
          architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
          os: 'linux',
          created: '2024-04-01T00:00:00Z',
          config: {},
          rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        }),
      );
      imageId = sha256(config);
      await client.pushBlob('ns/big', imageId, config.length, async () => Readable.from([config]));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: imageId, size: config.length },
          layers: [{ mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.size }],
        }),
      );
      await client.putManifest('ns/big', '1', manifest, OCI_MANIFEST);
    } finally {
      await client.close();
    }
  }, 120_000);

  afterAll(async () => {
    await wharfServer?.cleanup();
    if (wharfServer) await removeTmpDir(wharfServer.dataDir);
    if (dir) await removeTmpDir(dir);
  });

  it('resumes with Range and records the right image', async () => {
    const relay = await cuttingRelay(wharfServer.port);
    try {
      const ref = `127.0.0.1:${relay.port}/ns/big:1`;
      const env = { ...process.env, WHARF_ROOT: join(dir, 'root'), HOME: dir };
      const r = await run(process.execPath, [WHARF_BIN, 'pull', ref], { env, timeoutMs: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(relay.stats.cut).toBe(true);
      // The download went on from where it broke, not from the start.
      // (What reached the disk before the cut, not all the relay sent: socket buffers lose a few MB.)
      const resumedAt = Math.max(0, ...relay.stats.ranges.map((v) => Number(/^bytes=(\d+)-$/.exec(v)?.[1] ?? 0)));
      expect(resumedAt).toBeGreaterThan(CUT_AFTER / 4);
      expect(r.stdout).toContain(`${layer.digest.slice(7, 19)}: Pull complete\n`);
      expect(r.stdout).toContain(`Status: Downloaded newer image for ${ref}\n`);
      const ids = await run(process.execPath, [WHARF_BIN, 'images', '-q', '--no-trunc', ref], { env });
      expect(ids.stdout).toBe(`${imageId}\n`);
    } finally {
      relay.server.close();
    }
  }, 120_000);

  it('resumes after the server is killed mid-layer and started again, saying it retries', async () => {
    const { port, dataDir } = wharfServer;
    let restarted: Promise<void> | undefined;
    const relay = await cuttingRelay(port, () => {
      restarted = (async () => {
        await wharfServer.kill();
        wharfServer = await startWharf({ dataDir, port });
      })();
    });
    try {
      const ref = `127.0.0.1:${relay.port}/ns/big:1`;
      const env = { ...process.env, WHARF_ROOT: join(dir, 'root-killed'), HOME: dir };
      const r = await run(process.execPath, [WHARF_BIN, 'pull', ref], { env, timeoutMs: 120_000 });
      await restarted;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`${layer.digest.slice(7, 19)}: Retrying in \\d+ seconds?\n`));
      const resumedAt = Math.max(0, ...relay.stats.ranges.map((v) => Number(/^bytes=(\d+)-$/.exec(v)?.[1] ?? 0)));
      expect(resumedAt).toBeGreaterThan(CUT_AFTER / 4);
      const ids = await run(process.execPath, [WHARF_BIN, 'images', '-q', '--no-trunc', ref], { env });
      expect(ids.stdout).toBe(`${imageId}\n`);
    } finally {
      relay.server.close();
    }
  }, 120_000);
});
