// Compression of layers and archives: detection by magic number and streaming
// decompression. gzip comes from node:zlib; bzip2, xz and zstd are piped
// through the system tools (`bzip2 -dc`, `xz -dc`, `zstd -dc`) because Node 20
// has no codec for them (reference/ecosystem.md §A2). When node:zlib has zstd
// (Node 22.15+), it is used instead of the tool; the choice lives in `CODECS`.
import { spawn } from 'node:child_process';
import { PassThrough, pipeline, Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';
export type CompressionFormat = Exclude<Compression, 'none'>;

/** Magic numbers, as Docker's pkg/archive DetectCompression checks them. */
const MAGIC: ReadonlyArray<readonly [CompressionFormat, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['bzip2', Buffer.from([0x42, 0x5a, 0x68])], // "BZh"
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])], // "\xfd7zXZ\0"
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

/** Bytes `detectCompression` needs to tell every format apart (the xz magic is the longest). */
export const MAGIC_LENGTH = 6;

/** The compression of a stream that starts with `firstBytes`; 'none' when no magic matches. */
export function detectCompression(firstBytes: Uint8Array): Compression {
  for (const [format, magic] of MAGIC) {
    if (firstBytes.length >= magic.length && magic.equals(firstBytes.subarray(0, magic.length))) return format;
  }
  return 'none';
}

/** A decompression failure: corrupt or truncated input, or a missing tool. */
export class DecompressError extends Error {
  constructor(
    readonly format: CompressionFormat,
    message: string,
    options?: { cause?: unknown; stderr?: string },
  ) {
    super(message, options);
    this.name = 'DecompressError';
    this.stderr = options?.stderr;
  }

  /** Everything the tool wrote to stderr, when a tool failed. */
  readonly stderr: string | undefined;
}

/** Turns a compressed byte stream into the decompressed one; errors surface on the returned stream. */
export type Decompressor = (input: Readable) => Readable;

/** The system tools for the formats Node 20 cannot decode, and the Debian packages that provide them. */
export const TOOLS = {
  bzip2: { command: 'bzip2', args: ['-d', '-c'], debianPackage: 'bzip2' },
  xz: { command: 'xz', args: ['-d', '-c'], debianPackage: 'xz-utils' },
  zstd: { command: 'zstd', args: ['-d', '-c', '-q'], debianPackage: 'zstd' },
} as const;
export type ToolFormat = keyof typeof TOOLS;

/** node:zlib's zstd decompressor when this Node has one (22.15+), else undefined. */
function nativeZstd(): (() => Transform) | undefined {
  const factory: unknown = (zlib as Record<string, unknown>).createZstdDecompress;
  return typeof factory === 'function' ? () => (factory as () => Transform)() : undefined;
}

const zstdFactory = nativeZstd();

/** The codec for each format: swap an entry here to change how a format is decoded. */
export const CODECS: Record<CompressionFormat, Decompressor> = {
  // Large output chunks: fewer, bigger writes downstream (the default is 16 KiB).
  gzip: (input) => transformDecompress('gzip', input, zlib.createGunzip({ chunkSize: 1024 * 1024 })),
  bzip2: (input) => spawnDecompress('bzip2', input),
  xz: (input) => spawnDecompress('xz', input),
  zstd: zstdFactory
    ? (input) => transformDecompress('zstd', input, zstdFactory())
    : (input) => spawnDecompress('zstd', input),
};

/**
 * Peeks at the first bytes of `stream` (without losing them), detects the
 * compression and returns the decompressed stream (or `stream` itself,
 * bytes intact, when it is not compressed). Errors of the source, of the
 * codec, or of truncated input are emitted by the returned stream.
 */
export async function decompress(stream: Readable): Promise<Readable> {
  const { head, rest } = await peek(stream, MAGIC_LENGTH);
  const format = detectCompression(head);
  return format === 'none' ? rest : CODECS[format](rest);
}

/** Like `decompress`, and also tells which compression was found. */
export async function detectAndDecompress(stream: Readable): Promise<{ format: Compression; stream: Readable }> {
  const { head, rest } = await peek(stream, MAGIC_LENGTH);
  const format = detectCompression(head);
  return { format, stream: format === 'none' ? rest : CODECS[format](rest) };
}

/**
 * Reads at least `length` bytes (fewer at end of stream) and gives them back
 * with a stream that yields all bytes from the start: the same stream with the
 * bytes unshifted, or, when the source already ended, a stream of those bytes.
 */
export function peek(stream: Readable, length: number): Promise<{ head: Buffer; rest: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onReadable = () => {
      while (size < length) {
        const chunk: unknown = stream.read();
        if (chunk === null) break;
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
        chunks.push(buf);
        size += buf.length;
      }
      if (size < length) return;
      cleanup();
      const head = Buffer.concat(chunks);
      stream.unshift(head);
      resolve({ head, rest: stream });
    };
    const onEnd = () => {
      cleanup();
      const head = Buffer.concat(chunks);
      resolve({ head, rest: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/**
 * Pipes `input` through an in-process codec. Codec failures surface on the
 * returned stream as DecompressError, the source's as themselves. (Not
 * `pipeline`: it stops listening to the last stream once its writable side
 * finishes, and zlib reports a truncated input only after that.)
 */
function transformDecompress(format: CompressionFormat, input: Readable, codec: Transform): Readable {
  const out = new PassThrough();
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    input.destroy();
    codec.destroy();
    out.destroy(err);
  };
  input.on('error', fail);
  codec.on('error', (err) => fail(new DecompressError(format, `${format}: ${err.message}`, { cause: err })));
  input.pipe(codec);
  codec.pipe(out);
  out.once('close', () => {
    if (codec.readableEnded) return;
    input.destroy();
    codec.destroy();
  });
  return out;
}

/**
 * Pipes `input` through the format's tool (`xz -d -c`: stdin → stdout). The
 * returned stream ends only once the tool exited 0; a non-zero exit (corrupt
 * or truncated input) destroys it with a DecompressError carrying the tool's
 * stderr. Destroying the returned stream kills the tool and the source.
 * `command` overrides the executable (a path), for tests.
 */
export function spawnDecompress(
  format: ToolFormat,
  input: Readable,
  command: string = TOOLS[format].command,
): Readable {
  const { args, debianPackage } = TOOLS[format];
  const tool = TOOLS[format].command;
  const out = new PassThrough();
  const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let inputError: Error | undefined;
  let exited = false;

  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 16_384) stderr += text;
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    exited = true;
    input.destroy();
    const message =
      err.code === 'ENOENT'
        ? `${format}: ${tool} is not installed (apt-get install -y ${debianPackage})`
        : `${format}: cannot run ${command}: ${err.message}`;
    out.destroy(new DecompressError(format, message, { cause: err }));
  });
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    exited = true;
    if (out.destroyed) return;
    if (inputError) {
      out.destroy(inputError);
    } else if (code === 0) {
      out.end();
    } else {
      // First line, without the tool's own prefix: "xz: (stdin): Unexpected end of input".
      const firstLine = stderr
        .trim()
        .split('\n')[0]!
        .replace(new RegExp(`^${tool}: `), '');
      const detail = firstLine || (signal ? `killed by ${signal}` : `exit status ${code}`);
      out.destroy(new DecompressError(format, `${format}: ${detail}`, { stderr }));
    }
  });
  input.once('error', (err) => {
    inputError = err;
  });
  // An EPIPE here means the tool stopped reading (it failed): its exit reports why.
  pipeline(input, child.stdin, (err) => {
    if (err && inputError) {
      child.kill('SIGKILL');
      out.destroy(inputError);
    }
  });
  out.once('close', () => {
    if (!exited) child.kill('SIGKILL');
    if (!input.destroyed && !input.readableEnded) input.destroy();
  });
  return out;
}
