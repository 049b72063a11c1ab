// Test support for the registry client: deterministic blobs of any size that are never held in
// memory, a hashing sink, a small image pusher, and a proxy that breaks a download mid-body.
import { createCipheriv, createHash } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { RegistryClient } from '../../src/client/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';

export interface TestBlob {
  size: number;
  digest: string;
  open(): Promise<Readable>;
}

const PIECE = 1024 * 1024;

/** `size` pseudo-random bytes (AES-CTR of zeros keyed by `seed`), produced piece by piece. */
function* blobPieces(size: number, seed: string): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(PIECE);
  for (let left = size; left > 0; left -= PIECE) yield cipher.update(zeros.subarray(0, Math.min(PIECE, left)));
}

export function testBlob(size: number, seed: string): TestBlob {
  const hash = createHash('sha256');
  for (const piece of blobPieces(size, seed)) hash.update(piece);
  return {
    size,
    digest: `sha256:${hash.digest('hex')}`,
    open: async () => Readable.from(blobPieces(size, seed), { objectMode: false }),
  };
}

/** A blob held in memory (small content: configs, test layers). */
export function bytesBlob(data: Buffer | string): TestBlob {
  const bytes = Buffer.from(data);
  return { size: bytes.length, digest: digestOf(bytes), open: async () => Readable.from([bytes]) };
}

/** A writable that only hashes and counts what it gets. */
export class HashSink extends Writable {
  private readonly hash = createHash('sha256');
  size = 0;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done();
  }

  digest(): string {
    return `sha256:${this.hash.copy().digest('hex')}`;
  }
}

export interface PushedImage {
  digest: string;
  bytes: Buffer;
  config: TestBlob;
  layers: TestBlob[];
}

/** Pushes a config, the layers and an OCI image manifest with the client; tags it `tag`. */
export async function pushImage(
  client: RegistryClient,
  repo: string,
  tag: string,
  layers: TestBlob[] = [bytesBlob(`layer of ${repo}:${tag}`)],
): Promise<PushedImage> {
  const config = bytesBlob(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag }),
  );
  for (const blob of [config, ...layers]) await client.pushBlob(repo, blob.digest, blob.size, blob.open);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.size,
    })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await client.putManifest(repo, tag, bytes, MediaType.ociManifest);
  return { digest, bytes, config, layers };
}

export interface SeenRequest {
  method: string;
  path: string;
  range: string | undefined;
  contentRange: string | undefined;
}

export interface TestProxy {
  /** host:port of the proxy. */
  host: string;
  /** Every request that went through, in order. */
  seen: SeenRequest[];
  /** Range headers of the blob GETs seen (undefined for a GET without Range). */
  blobRanges(): (string | undefined)[];
  /** Body bytes passed before each cut. */
  cuts: number[];
  close(): Promise<void>;
}

/** What the proxy does to the answer of the n-th blob GET (0-based). */
export type BlobGetAction = 'pass' | 'cut' | 'corrupt';

/**
 * A plain HTTP proxy to `target` (host:port) that records requests and, as `blobGet` says,
 * passes a blob GET's answer, breaks the connection after `cutAfter` body bytes ('cut'), or
 * flips one byte of the body ('corrupt'). Everything else passes through.
 */
export async function testProxy(
  target: string,
  options: {
    blobGet?: (index: number) => BlobGetAction;
    cutAfter?: number;
    /** May change the headers of a request before it is forwarded. */
    rewrite?: (req: IncomingMessage) => void;
  } = {},
): Promise<TestProxy> {
  const colon = target.lastIndexOf(':');
  const targetHost = target.slice(0, colon);
  const targetPort = Number(target.slice(colon + 1));
  const cutAfter = options.cutAfter ?? 1024 * 1024;
  const seen: SeenRequest[] = [];
  const cuts: number[] = [];
  let blobGets = 0;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push({
      method: req.method ?? '',
      path,
      range: req.headers.range,
      contentRange: req.headers['content-range'],
    });
    options.rewrite?.(req);
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:[0-9a-f]{64}$/.test(path);
    const action: BlobGetAction = isBlobGet ? (options.blobGet?.(blobGets++) ?? 'pass') : 'pass';
    const upstream = httpRequest(
      { host: targetHost, port: targetPort, method: req.method, path, headers: req.headers as IncomingHttpHeaders },
      (ures: IncomingMessage) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        if (action === 'pass' || (ures.statusCode !== 200 && ures.statusCode !== 206)) {
          ures.pipe(res);
          return;
        }
        if (action === 'corrupt') {
          let first = true;
          ures.on('data', (chunk: Buffer) => {
            if (first && chunk.length > 0) {
              first = false;
              const copy = Buffer.from(chunk);
              copy[0] = (copy[0] as number) ^ 0xff;
              res.write(copy);
              return;
            }
            res.write(chunk);
          });
          ures.on('end', () => res.end());
          return;
        }
        let sent = 0;
        let done = false;
        ures.on('data', (chunk: Buffer) => {
          if (done) return;
          const room = cutAfter - sent;
          if (chunk.length < room) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          done = true;
          sent += room;
          cuts.push(sent);
          // Flush what the client may have, then break the connection mid-body.
          res.write(chunk.subarray(0, room), () => res.socket?.destroy());
          ures.destroy();
        });
        ures.on('end', () => {
          if (!done) res.end();
        });
      },
    );
    upstream.on('error', () => res.destroy());
    // A client that goes away mid-request takes the upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    blobRanges: () =>
      seen.filter((r) => r.method === 'GET' && /\/blobs\/sha256:[0-9a-f]{64}$/.test(r.path)).map((r) => r.range),
    cuts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
