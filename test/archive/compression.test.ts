// Compression: magic numbers, and round trips through files made by the system tools.
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CompressionFormat,
  DecompressError,
  decompress,
  detectAndDecompress,
  detectCompression,
  spawnDecompress,
} from '../../src/archive/compression.js';
import { extractLayer } from '../../src/archive/extract.js';
import { waitFor } from '../support/tools.js';
import { dir, file, symlinkEntry, tarOf, tempDir, tree } from './helpers.js';

const TOOLS: Record<CompressionFormat, { tool: string; ext: string; pkg: string }> = {
  gzip: { tool: 'gzip', ext: 'gz', pkg: 'gzip' },
  bzip2: { tool: 'bzip2', ext: 'bz2', pkg: 'bzip2' },
  xz: { tool: 'xz', ext: 'xz', pkg: 'xz-utils' },
  zstd: { tool: 'zstd', ext: 'zst', pkg: 'zstd' },
};
const FORMATS = Object.keys(TOOLS) as CompressionFormat[];

/** Compresses with the system tool, as a user's `docker save | xz` would. */
function compressWithTool(format: CompressionFormat, data: Buffer): Buffer {
  return execFileSync(TOOLS[format].tool, ['-c', '-q'], { input: data, maxBuffer: 256 * 1024 * 1024 });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Emits the first 16 bytes of `data` in chunks of `size` bytes, then the rest: peeking must cross chunks. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < Math.min(16, data.length); i += size) parts.push(data.subarray(i, Math.min(i + size, 16)));
  if (data.length > 16) parts.push(data.subarray(16));
  return Readable.from(parts, { objectMode: false });
}

/** Some bytes that compress, but not to nothing: a tar with text and pseudo-random content. */
let layer: Buffer;
beforeAll(async () => {
  let x = 12345;
  const noise = Buffer.alloc(300_000);
  for (let i = 0; i < noise.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    noise[i] = x % 7 === 0 ? x & 0xff : 0x61 + (i % 26);
  }
  layer = await tarOf([
    dir('etc/'),
    file('etc/os-release', 'ID=wharf\n'),
    file('noise', noise),
    symlinkEntry('bin', 'usr/bin'),
  ]);
});

describe('detectCompression', () => {
  it.each([
    ['gzip', [0x1f, 0x8b, 0x08, 0x00]],
    ['bzip2', [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41]],
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd, 0x04]],
  ] as const)('recognises %s', (format, bytes) => {
    expect(detectCompression(Buffer.from(bytes))).toBe(format);
  });

  it('recognises what the system tools write', () => {
    for (const format of FORMATS) expect(detectCompression(compressWithTool(format, layer))).toBe(format);
  });

  it('says none for a tar, for short and empty input, and for near misses', () => {
    expect(detectCompression(layer)).toBe('none');
    expect(detectCompression(Buffer.from([0x1f]))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01]))).toBe('none');
    expect(detectCompression(Buffer.from('BZ'))).toBe('none');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f]))).toBe('none');
  });
});

describe('decompress', () => {
  for (const format of FORMATS) {
    it(`round-trips a tar through ${TOOLS[format].tool} (file on disk, then extracted)`, async () => {
      const d = await tempDir();
      const path = join(d, `layer.tar.${TOOLS[format].ext}`);
      await writeFile(path, compressWithTool(format, layer));
      const { format: found, stream } = await detectAndDecompress(createReadStream(path, { highWaterMark: 4096 }));
      expect(found).toBe(format);
      expect((await readAll(stream)).equals(layer)).toBe(true);

      const root = join(d, 'root');
      const stats = await extractLayer(await decompress(createReadStream(path)), root);
      expect(stats.files).toBe(2);
      expect(await tree(root)).toEqual(['bin -> usr/bin', 'etc/', 'etc/os-release', 'noise']);
      expect(await readFile(join(root, 'etc/os-release'), 'utf8')).toBe('ID=wharf\n');
    });
  }

  it('finds the magic when the first chunks are tiny', async () => {
    for (const format of FORMATS) {
      const out = await decompress(chunked(compressWithTool(format, layer), 1));
      expect((await readAll(out)).equals(layer), format).toBe(true);
    }
  });

  it('gives back uncompressed input byte for byte', async () => {
    expect((await readAll(await decompress(chunked(layer, 3)))).equals(layer)).toBe(true);
    expect((await readAll(await decompress(Readable.from(Buffer.from('abc'))))).toString()).toBe('abc');
    expect((await readAll(await decompress(Readable.from([], { objectMode: false })))).length).toBe(0);
  });

  it('decompresses zstd through the zstd tool, whatever node:zlib offers', async () => {
    const out = spawnDecompress('zstd', Readable.from(compressWithTool('zstd', layer)));
    expect((await readAll(out)).equals(layer)).toBe(true);
  });

  it('keeps up with a slow reader (backpressure through the tool)', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.write(`block ${i}\n`, i);
    const out = await decompress(Readable.from(compressWithTool('xz', big)));
    let size = 0;
    for await (const chunk of out) {
      size += (chunk as Buffer).length;
      if (size % (1024 * 1024) < 65536) await new Promise((r) => setTimeout(r, 1));
    }
    expect(size).toBe(big.length);
  });
});

describe('decompression errors', () => {
  for (const format of FORMATS) {
    it(`a truncated ${format} stream errors instead of ending short`, async () => {
      const whole = compressWithTool(format, layer);
      const out = await decompress(Readable.from(whole.subarray(0, Math.floor(whole.length / 2))));
      const error = await readAll(out).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(DecompressError);
      expect((error as DecompressError).format).toBe(format);
      expect((error as Error).message).toMatch(new RegExp(`^${format}: .+`));
    });
  }

  it('the tool’s stderr explains a corrupt xz stream', async () => {
    const whole = compressWithTool('xz', layer);
    const corrupt = Buffer.from(whole);
    for (let i = 64; i < 256; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    const out = await decompress(Readable.from(corrupt));
    await expect(readAll(out)).rejects.toThrow(/^xz: .*(corrupt|Compressed data)/);
  });

  it('a corrupt gzip stream errors', async () => {
    const gz = gzipSync(layer);
    const corrupt = Buffer.from(gz);
    for (let i = 20; i < 200; i++) corrupt[i] = 0;
    await expect(readAll(await decompress(Readable.from(corrupt)))).rejects.toBeInstanceOf(DecompressError);
  });

  it('a truncated gzip layer fails extractLayer, not a silent short layer', async () => {
    const root = await tempDir();
    const gz = gzipSync(layer);
    await expect(
      extractLayer(await decompress(Readable.from(gz.subarray(0, gz.length - 100))), root),
    ).rejects.toBeInstanceOf(DecompressError);
  });

  it('a truncated xz layer fails extractLayer with the tool’s message', async () => {
    const root = await tempDir();
    const xz = compressWithTool('xz', layer);
    await expect(extractLayer(await decompress(Readable.from(xz.subarray(0, xz.length - 50))), root)).rejects.toThrow(
      /^xz: .*Unexpected end of input/,
    );
  });

  for (const format of ['gzip', 'xz'] as const) {
    it(`passes on the source's own error (${format})`, async () => {
      const whole = compressWithTool(format, layer);
      const boom = new Error('connection reset');
      const source = new PassThrough();
      source.write(whole.subarray(0, 1000));
      const out = await decompress(source);
      setTimeout(() => source.destroy(boom), 10);
      await expect(readAll(out)).rejects.toBe(boom);
    });
  }

  it('names the package when a tool is missing', async () => {
    const out = spawnDecompress('xz', Readable.from(Buffer.from('x')), '/nonexistent/xz');
    await expect(readAll(out)).rejects.toThrow('xz: xz is not installed (apt-get install -y xz-utils)');
  });

  it('destroying the output early stops the tool and the source', async () => {
    const source = Readable.from(compressWithTool('zstd', Buffer.alloc(32 * 1024 * 1024, 'z')));
    const out = spawnDecompress('zstd', source);
    await new Promise<void>((resolve) => out.once('data', () => resolve()));
    out.destroy();
    await waitFor('the source to be destroyed', () => source.destroyed);
  });
});
