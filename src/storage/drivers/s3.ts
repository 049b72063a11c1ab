import { createHash, createHmac } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  checkPath,
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
  StorageUnavailableError,
} from '../driver.js';
import { type ByteSpan, writeAndFlush } from '../send.js';

export interface S3Options {
  bucket: string;
  region: string;
  /** For S3-compatible stores (Swift, Ceph, MinIO); AWS itself when absent. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Without them, the SDK's standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, roles. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Key prefix for every object (no leading `/`), so that a bucket can be shared. */
  prefix?: string;
}

/** S3's minimum size of every part of a multipart upload but the last. */
export const PART_MIN = 5 * 1024 * 1024;
/** S3's maximum size of one copy (CopyObject, or one UploadPartCopy). */
const COPY_MAX = 5 * 1024 * 1024 * 1024;

/** A 404 from S3, whatever the command calls it (NoSuchKey, NotFound). */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Rethrows a 404 as PathNotFoundError(`path`): a copy whose source went between the HEAD and the
 * copy (another node moved it) is the driver contract's "not found", not a bare S3 error.
 */
function notFoundAs(err: unknown, path: string): never {
  throw isNotFound(err) ? new PathNotFoundError(path) : err;
}

interface Part {
  PartNumber: number;
  ETag: string;
}

/**
 * Objects in an S3 bucket, one object per path. S3 objects cannot be appended to, so an
 * appending writer starts a multipart upload whose first parts are a server-side copy of the
 * existing object (or, under the 5 MiB part minimum, the object re-read into the part
 * buffer), and close() completes it: every closed writer leaves a whole, ordinary object, so
 * another node sees the bytes at once. At most one part (5 MiB) per writer is in memory.
 */
export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly options: S3Options;

  constructor(options: S3Options) {
    this.options = options;
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix.replace(/\/+$/, '')}/` : '';
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
      // The SDK's default CRC32 on every request sends streams `aws-chunked`, which S3-compatible
      // stores (Swift's s3api, older MinIO) refuse; the registry verifies digests itself.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    addContentMd5(this.client);
    addUnavailable(this.client, this.prefix);
  }

  key(path: string): string {
    return this.prefix + path.slice(1);
  }

  private dirKey(path: string): string {
    return path === '/' ? this.prefix : `${this.key(path)}/`;
  }

  /** Size and time of the object at `path`, or undefined. */
  private async head(path: string): Promise<{ size: number; modTime: Date } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return { size: Number(out.ContentLength ?? 0), modTime: out.LastModified ?? new Date() };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async sizeOf(path: string): Promise<number> {
    const info = await this.head(path);
    if (!info) throw new PathNotFoundError(path);
    return info.size;
  }

  /** The body of `path` from `offset` for `length` bytes (to the end when absent). */
  private async body(path: string, offset: number, length?: number): Promise<Readable> {
    if (length === 0) return Readable.from([]);
    const end = length === undefined ? '' : String(offset + length - 1);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          Range: offset === 0 && length === undefined ? undefined : `bytes=${offset}-${end}`,
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  /**
   * The object, or `span` of it, in one GetObject and no HEAD before it (a pull through the node
   * costs the store one request per blob): a missing object or a span past its end is an error
   * before any byte is read.
   */
  private async spanBody(path: string, span: ByteSpan | undefined): Promise<Readable> {
    const offset = span?.offset ?? 0;
    if (span && (span.offset < 0 || span.length <= 0)) {
      // Nothing to fetch, or nothing valid: only whether the object exists (and is long enough) matters.
      const size = await this.sizeOf(path);
      if (offset < 0 || span.length < 0 || offset + span.length > size) throw new InvalidOffsetError(path, offset);
      return Readable.from([]);
    }
    let body: Readable;
    let received: number;
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          Range: span ? `bytes=${span.offset}-${span.offset + span.length - 1}` : undefined,
        }),
      );
      body = out.Body as Readable;
      received = Number(out.ContentLength ?? 0);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      // 416: the span starts at or past the end.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) {
        throw new InvalidOffsetError(path, offset);
      }
      throw err;
    }
    // A span that runs past the end comes back shorter (S3 clamps the range): refused, as before.
    if (span && received !== span.length) {
      body.destroy();
      throw new InvalidOffsetError(path, offset);
    }
    return body;
  }

  async getContent(path: string): Promise<Buffer> {
    checkPath(path);
    const parts: Buffer[] = [];
    for await (const chunk of await this.body(path, 0)) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    checkPath(path);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: Buffer.from(data) }));
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    checkPath(path);
    const size = await this.sizeOf(path);
    if (offset < 0 || offset > size) throw new InvalidOffsetError(path, offset);
    return this.body(path, offset, size - offset);
  }

  async sendTo(path: string, dest: Writable, span?: ByteSpan): Promise<void> {
    checkPath(path);
    const body = await this.spanBody(path, span);
    try {
      for await (const chunk of body) await writeAndFlush(dest, chunk as Buffer);
    } finally {
      body.destroy();
    }
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    checkPath(path);
    const base = options.append ? ((await this.head(path))?.size ?? 0) : 0;
    return new S3Writer(this, path, base, options.append === true);
  }

  async stat(path: string): Promise<FileInfo> {
    checkPath(path, true);
    if (path !== '/') {
      const info = await this.head(path);
      if (info) return { path, size: info.size, modTime: info.modTime, isDir: false };
    }
    const out = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.dirKey(path), MaxKeys: 1 }),
    );
    if (path === '/' || (out.KeyCount ?? 0) > 0) return { path, size: 0, modTime: new Date(), isDir: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    checkPath(path, true);
    const prefix = this.dirKey(path);
    const base = path === '/' ? '/' : `${path}/`;
    const children: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const p of out.CommonPrefixes ?? []) {
        if (p.Prefix) children.push(base + p.Prefix.slice(prefix.length, -1));
      }
      for (const o of out.Contents ?? []) if (o.Key) children.push(base + o.Key.slice(prefix.length));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    if (children.length === 0 && path !== '/') throw new PathNotFoundError(path);
    return children.sort();
  }

  async move(source: string, dest: string): Promise<void> {
    checkPath(dest);
    checkPath(source);
    const size = await this.sizeOf(source);
    if (size <= COPY_MAX) {
      await this.client
        .send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.key(dest), CopySource: this.copySource(source) }))
        .catch((err: unknown) => notFoundAs(err, source));
    } else {
      const upload = await this.createUpload(dest);
      try {
        const parts = await this.copyParts(upload, dest, source, size, 1);
        await this.completeUpload(upload, dest, parts);
      } catch (err) {
        await this.abortUpload(upload, dest);
        throw err;
      }
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(source) }));
  }

  async delete(path: string): Promise<void> {
    checkPath(path);
    const keys: string[] = [];
    if (await this.head(path)) keys.push(this.key(path));
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.dirKey(path), ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    if (keys.length === 0) throw new PathNotFoundError(path);
    for (let i = 0; i < keys.length; i += 1000) {
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = out.Errors?.[0];
      if (failed) throw new Error(`cannot delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
    }
  }

  /** A presigned GET URL (SigV4, query-string auth), as the AWS SDK's presigner makes it. */
  async redirectURL(path: string, expiresIn: number): Promise<string> {
    checkPath(path);
    const { region, forcePathStyle } = this.options;
    const base = new URL(this.options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    const hostname = forcePathStyle ? base.hostname : `${this.bucket}.${base.hostname}`;
    const host = base.port ? `${hostname}:${base.port}` : hostname;
    const basePath = base.pathname.replace(/\/+$/, '');
    const objectPath = `${basePath}${forcePathStyle ? `/${this.bucket}` : ''}/${this.key(path)}`;
    const signer = new SignatureV4({
      credentials: this.client.config.credentials,
      region,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    const signed = await signer.presign(
      {
        method: 'GET',
        protocol: base.protocol,
        hostname,
        port: base.port ? Number(base.port) : undefined,
        path: objectPath,
        query: {},
        // S3's presigned URLs sign no payload.
        headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { expiresIn },
    );
    const query = Object.entries(signed.query ?? {})
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return `${base.protocol}//${host}${objectPath}?${query}`;
  }

  // ---- multipart helpers (for S3Writer and move) ----

  copySource(path: string): string {
    return `${this.bucket}/${this.key(path)}`;
  }

  async createUpload(path: string): Promise<string> {
    const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(path) }));
    if (!out.UploadId) throw new Error(`no upload id for ${path}`);
    return out.UploadId;
  }

  async uploadPart(uploadId: string, path: string, number: number, data: Buffer): Promise<Part> {
    const out = await this.client.send(
      new UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        UploadId: uploadId,
        PartNumber: number,
        Body: data,
      }),
    );
    return { PartNumber: number, ETag: out.ETag ?? '' };
  }

  /** Copies all of `source` (`size` bytes) as parts from `first` on, server-side. */
  async copyParts(uploadId: string, path: string, source: string, size: number, first: number): Promise<Part[]> {
    const count = Math.ceil(size / COPY_MAX);
    const step = Math.ceil(size / count);
    const parts: Part[] = [];
    for (let i = 0; i < count; i++) {
      const start = i * step;
      const end = Math.min(size, start + step) - 1;
      const out = await this.client
        .send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: this.key(path),
            UploadId: uploadId,
            PartNumber: first + i,
            CopySource: this.copySource(source),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        )
        .catch((err: unknown) => notFoundAs(err, source));
      parts.push({ PartNumber: first + i, ETag: out.CopyPartResult?.ETag ?? '' });
    }
    return parts;
  }

  async completeUpload(uploadId: string, path: string, parts: Part[]): Promise<void> {
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  async abortUpload(uploadId: string, path: string): Promise<void> {
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(path), UploadId: uploadId }))
      .catch(() => {});
  }

  /** Reads an object whole into memory: only for objects under PART_MIN. */
  async readSmall(path: string): Promise<Buffer> {
    return this.getContent(path);
  }
}

/**
 * Writes one object. Bytes gather into a part buffer; each full part (PART_MIN) goes up as a
 * part of a multipart upload (the write waits for it: backpressure); close()/commit() complete
 * the upload, or put the object in one request when it never reached a part.
 */
class S3Writer implements FileWriter {
  readonly stream: Writable;
  private written: number;
  private buffer: Buffer[] = [];
  private buffered = 0;
  private uploadId: string | undefined;
  private parts: Part[] = [];
  /** The existing object still has to become the first parts (append, at least one part's worth). */
  private copyBase: boolean;
  /** The existing object (under one part) still has to be read into the buffer. */
  private readBase: boolean;
  private touched = false;
  private failed: unknown;
  private finishing: Promise<void> | undefined;
  /** The write in progress: a destroyed stream may close before its callback. */
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly driver: S3Driver,
    private readonly path: string,
    private readonly base: number,
    private readonly append: boolean,
  ) {
    this.written = base;
    this.copyBase = append && base >= PART_MIN;
    this.readBase = append && base > 0 && base < PART_MIN;
    this.stream = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.pending = this.accept(chunk);
        this.pending.then(
          () => cb(),
          (err: unknown) => {
            this.failed = err;
            cb(err as Error);
          },
        );
      },
    });
  }

  size(): number {
    return this.written;
  }

  private async accept(chunk: Buffer): Promise<void> {
    this.touched = true;
    if (this.readBase) {
      this.readBase = false;
      const existing = await this.driver.readSmall(this.path);
      this.buffer.push(existing);
      this.buffered += existing.length;
    }
    this.buffer.push(Buffer.from(chunk));
    this.buffered += chunk.length;
    this.written += chunk.length;
    if (this.buffered >= PART_MIN) await this.flushPart();
  }

  private async start(): Promise<string> {
    if (this.uploadId) return this.uploadId;
    const id = await this.driver.createUpload(this.path);
    this.uploadId = id;
    if (this.copyBase) {
      this.copyBase = false;
      this.parts = await this.driver.copyParts(id, this.path, this.path, this.base, 1);
    }
    return id;
  }

  private async flushPart(): Promise<void> {
    const id = await this.start();
    const data = Buffer.concat(this.buffer);
    this.buffer = [];
    this.buffered = 0;
    this.parts.push(await this.driver.uploadPart(id, this.path, this.parts.length + 1, data));
  }

  /** Ends the stream and waits until it has settled, successfully or not. */
  private async settle(): Promise<void> {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
    if (!this.stream.writableFinished && !this.stream.closed) {
      await new Promise<void>((resolve) => {
        this.stream.once('finish', () => resolve());
        this.stream.once('close', () => resolve());
      });
    }
    await this.pending.catch(() => {});
  }

  private finish(): Promise<void> {
    this.finishing ??= this.complete();
    return this.finishing;
  }

  /** Makes what the stream accepted the object; a failed part upload leaves the object as it was. */
  private async complete(): Promise<void> {
    await this.settle();
    if (this.failed !== undefined) {
      if (this.uploadId) await this.driver.abortUpload(this.uploadId, this.path);
      throw this.failed;
    }
    if (this.append && !this.touched) return; // nothing new: the object stays as it was
    if (!this.uploadId && !this.copyBase) {
      await this.driver.putContent(this.path, Buffer.concat(this.buffer));
      return;
    }
    try {
      const id = await this.start();
      if (this.buffered > 0) await this.flushPart();
      await this.driver.completeUpload(id, this.path, this.parts);
    } catch (err) {
      if (this.uploadId) await this.driver.abortUpload(this.uploadId, this.path);
      throw err;
    }
  }

  commit(): Promise<void> {
    return this.finish();
  }

  close(): Promise<void> {
    return this.finish();
  }

  async cancel(): Promise<void> {
    this.stream.destroy();
    await this.settle();
    if (this.uploadId) await this.driver.abortUpload(this.uploadId, this.path);
    await this.driver.client.send(
      new DeleteObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.key(this.path) }),
    );
  }
}

/** SignatureV4's hash: sha256, or HMAC-sha256 with a key (node:crypto). */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * Swift's s3api answers `409 BrokenMPU` when a read or copy of a multipart object could not get
 * one of its segments, also when that segment's GET merely failed under load (SLO turns the
 * segment's 503 into a 409 for the whole object). Retried like a 5xx; then unavailable.
 */
function isBrokenSegmentRead(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'BrokenMPU' && e.$metadata?.httpStatusCode === 409;
}

/** No answer from the store (refused, reset, timed out), or a 5xx after the SDK's retries. */
function isUnavailable(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; code?: string } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  if (isBrokenSegmentRead(err)) return true;
  if (typeof status === 'number') return status >= 500;
  return err instanceof Error && !(err instanceof StorageUnavailableError);
}

/** Attempts of a command that got BrokenMPU (the SDK's own retries do not cover a 409). */
const BROKEN_SEGMENT_ATTEMPTS = 3;

/** Turns the store's unavailability into StorageUnavailableError (503 for clients), in one place. */
function addUnavailable(client: S3Client, prefix: string): void {
  const middleware = (next: (args: { input: unknown }) => Promise<unknown>) => async (args: { input: unknown }) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(args);
      } catch (err) {
        if (isBrokenSegmentRead(err) && attempt < BROKEN_SEGMENT_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
          continue;
        }
        if (!isUnavailable(err)) throw err;
        const key = (args.input as { Key?: string } | undefined)?.Key;
        throw new StorageUnavailableError(key === undefined ? '/' : `/${key.slice(prefix.length)}`, err);
      }
    }
  };
  // The stack's overloads are keyed by step; this one is an initialize middleware.
  client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'wharfUnavailable' } as never);
}

/**
 * DeleteObjects must carry Content-MD5 for S3-compatible stores (Swift's s3api, MinIO), while
 * SDK v3 sends a CRC32 header instead (aws/aws-sdk-js-v3#6920): swap one for the other.
 */
function addContentMd5(client: S3Client): void {
  type Middleware = Parameters<S3Client['middlewareStack']['addRelativeTo']>[0];
  type Next = (args: { request: unknown }) => Promise<unknown>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: { request: unknown }) => {
    const request = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
    if (context.commandName === 'DeleteObjectsCommand' && request?.headers && typeof request.body === 'string') {
      for (const name of Object.keys(request.headers)) {
        if (name.toLowerCase().startsWith('x-amz-checksum-') || name.toLowerCase() === 'x-amz-sdk-checksum-algorithm') {
          delete request.headers[name];
        }
      }
      request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
    }
    return next(args);
  };
  client.middlewareStack.addRelativeTo(middleware as unknown as Middleware, {
    relation: 'before',
    toMiddleware: 'awsAuthMiddleware',
    name: 'wharfContentMd5',
  });
}
