// The registry client's operations: manifests, blobs (streamed, resumable pulls; HEAD, mount,
// monolithic, chunked and streamed pushes) and tags, over the transport of transport.ts.
import { Readable, type Writable } from 'node:stream';
import { digestOf, newHash, parseDigest } from '../oci/digest.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/mediatypes.js';
import { isValidRepositoryName, isValidTag } from '../oci/name.js';
import { isLoopbackHost } from '../oci/reference.js';
import { type Credentials, repositoryScope } from './auth.js';
import { DigestMismatchError, RegistryClientError } from './errors.js';
import { discard, header, headerValues, readBytes } from './http.js';
import { ByteReader, DestinationError, drained, endWritable, toBuffer } from './streams.js';
import {
  type Answer,
  type PingResult,
  type RegistryClientOptions,
  RegistryTransport,
  transportError,
  withQuery,
} from './transport.js';

export type { PingResult, RegistryClientOptions };
export { isLoopbackHost };

export interface Manifest {
  mediaType: string;
  /** The digest of `bytes` (verified). */
  digest: string;
  bytes: Buffer;
}

export interface ManifestDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export type PushBlobResult = 'exists' | 'mounted' | 'pushed';

export interface PushBlobOptions {
  /** HEAD the blob first and stop if the repository has it (default true). */
  checkExists?: boolean;
  /** Repositories to try mounting the blob from (cross-repository mount) before uploading it. */
  mountFrom?: readonly string[];
  /** Blobs smaller than this go in one PUT (default 8 MiB). */
  monolithicLimit?: number;
  /** Size of each PATCH of a chunked upload (default 16 MiB). */
  chunkSize?: number;
  /** Called with the number of bytes sent so far. */
  onProgress?: (sent: number) => void;
  signal?: AbortSignal;
}

export interface PullBlobOptions {
  /** End the writable (and wait for it to finish) once the blob is verified. Default true. */
  end?: boolean;
  /** Attempts to resume after a broken connection (default 3). */
  retries?: number;
  /** Wait before attempt `failures + 1`, ms (default 100 ms doubling, at most 2 s). */
  retryDelayMs?: (failures: number) => number;
  /** Told before each wait for another attempt. */
  onRetry?: (failures: number, delayMs: number) => void;
  /** Called with the number of bytes received so far. */
  onProgress?: (received: number) => void;
  signal?: AbortSignal;
}

export const MONOLITHIC_LIMIT = 8 * 1024 * 1024;
export const CHUNK_SIZE = 16 * 1024 * 1024;
/** Largest manifest accepted (Distribution's default limit). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
export const PULL_RETRIES = 3;
/** What GET /v2/…/manifests asks for when the caller does not say. */
export const DEFAULT_MANIFEST_ACCEPT: readonly string[] = MANIFEST_MEDIA_TYPES;

function checkRepository(repo: string): void {
  if (!isValidRepositoryName(repo)) throw new RegistryClientError(`invalid repository name: ${JSON.stringify(repo)}`);
}

function checkDigest(digest: string): NonNullable<ReturnType<typeof parseDigest>> {
  const parsed = parseDigest(digest);
  if (!parsed) throw new RegistryClientError(`invalid digest: ${JSON.stringify(digest)}`);
  return parsed;
}

function checkReference(ref: string): void {
  if (!isValidTag(ref) && !parseDigest(ref)) throw new RegistryClientError(`invalid reference: ${JSON.stringify(ref)}`);
}

const pull = (repo: string): string[] => [repositoryScope(repo, ['pull'])];
const pushPull = (repo: string): string[] => [repositoryScope(repo, ['push', 'pull'])];

/** The `rel="next"` target of a Link header. */
export function nextLink(values: readonly string[]): string | undefined {
  for (const value of values) {
    for (const m of value.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
      const params = m[2] ?? '';
      if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?/i.test(params)) return m[1];
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RegistryClient {
  /** Connections, scheme, challenges and tokens. */
  private readonly t: RegistryTransport;

  constructor(opts: RegistryClientOptions) {
    this.t = new RegistryTransport(opts);
  }

  /** The registry's `host[:port]` (docker.io is served by registry-1.docker.io). */
  get host(): string {
    return this.t.host;
  }

  /** Plain HTTP allowed and TLS not verified. */
  get insecure(): boolean {
    return this.t.insecure;
  }

  /** The credentials in use (an identity token rotated by the token server replaces the old one). */
  get credentials(): Credentials | undefined {
    return this.t.credentials;
  }

  /** Closes the client's connections. */
  close(): Promise<void> {
    return this.t.close();
  }

  /** GET /v2/ without credentials: the scheme that answered and the auth challenge. */
  ping(signal?: AbortSignal): Promise<PingResult> {
    return this.t.ping(signal);
  }

  /** `docker login`: see RegistryTransport.login. */
  login(signal?: AbortSignal): Promise<{ identityToken?: string }> {
    return this.t.login(signal);
  }

  // -------------------------------------------------------------------------------------------
  // Manifests

  /**
   * GET a manifest (or index). By digest, the bytes must hash to it; by tag, to the
   * Docker-Content-Digest the registry sent. Fails with DigestMismatchError otherwise.
   */
  async getManifest(
    repo: string,
    ref: string,
    accept: readonly string[] = DEFAULT_MANIFEST_ACCEPT,
    signal?: AbortSignal,
  ): Promise<Manifest> {
    checkRepository(repo);
    checkReference(ref);
    const res = await this.t.send({
      method: 'GET',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: pull(repo),
      headers: { accept: accept.join(', ') },
      ok: [200],
      signal,
    });
    let bytes: Buffer;
    try {
      bytes = await readBytes(res.body, MAX_MANIFEST_SIZE, 'manifest');
    } catch (err) {
      throw transportError('GET', res.url, err);
    }
    const byDigest = parseDigest(ref);
    const sent = header(res.headers, 'docker-content-digest');
    const expected = byDigest ?? (sent !== undefined ? parseDigest(sent) : undefined);
    if (sent !== undefined && expected === undefined) {
      throw new RegistryClientError(`registry sent an unsupported manifest digest: ${sent}`);
    }
    const digest = expected ? digestOf(bytes, expected.algorithm) : digestOf(bytes);
    if (expected && digest !== expected.value) throw new DigestMismatchError(expected.value, digest, 'manifest');
    if (
      byDigest &&
      sent !== undefined &&
      parseDigest(sent)?.algorithm === byDigest.algorithm &&
      sent !== byDigest.value
    ) {
      throw new DigestMismatchError(byDigest.value, sent, 'manifest');
    }
    return { mediaType: manifestMediaType(header(res.headers, 'content-type'), bytes), digest, bytes };
  }

  /** HEAD a manifest: its media type, digest and size, or undefined when the registry does not have it. */
  async headManifest(
    repo: string,
    ref: string,
    accept: readonly string[] = DEFAULT_MANIFEST_ACCEPT,
    signal?: AbortSignal,
  ): Promise<ManifestDescriptor | undefined> {
    checkRepository(repo);
    checkReference(ref);
    const res = await this.t.send({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: pull(repo),
      headers: { accept: accept.join(', ') },
      ok: [200, 404],
      signal,
    });
    await discard(res.body);
    if (res.status === 404) return undefined;
    const digest = header(res.headers, 'docker-content-digest') ?? (parseDigest(ref) ? ref : undefined);
    const size = Number(header(res.headers, 'content-length'));
    const mediaType = header(res.headers, 'content-type')?.split(';')[0]?.trim() ?? '';
    if (digest === undefined || !Number.isSafeInteger(size) || mediaType === '') {
      // A registry that does not describe manifests on HEAD: fetch it.
      const m = await this.getManifest(repo, ref, accept, signal);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    }
    return { mediaType, digest, size };
  }

  /** PUT a manifest under a tag or its digest; returns its digest (checked against the registry's). */
  async putManifest(
    repo: string,
    ref: string,
    bytes: Buffer | Uint8Array,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<string> {
    checkRepository(repo);
    checkReference(ref);
    const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const byDigest = parseDigest(ref);
    const digest = digestOf(body, byDigest?.algorithm ?? 'sha256');
    if (byDigest && byDigest.value !== digest) throw new DigestMismatchError(byDigest.value, digest, 'manifest');
    const res = await this.t.send({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: pushPull(repo),
      headers: { 'content-type': mediaType },
      body,
      ok: [200, 201, 202, 204],
      signal,
    });
    await discard(res.body);
    const answered = header(res.headers, 'docker-content-digest');
    if (answered !== undefined && parseDigest(answered)?.algorithm === (byDigest?.algorithm ?? 'sha256')) {
      if (answered !== digest) {
        throw new RegistryClientError(`registry stored manifest ${digest} as ${answered}`, { status: res.status });
      }
    }
    return digest;
  }

  // -------------------------------------------------------------------------------------------
  // Blobs

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  blobExists(repo: string, digest: string, signal?: AbortSignal): Promise<number | undefined> {
    checkRepository(repo);
    checkDigest(digest);
    return this.statBlob(repo, digest, pull(repo), signal);
  }

  /**
   * GET a blob as a stream; with `offset` > 0, from that byte on (a Range request that must be
   * answered 206). The caller verifies the content (or uses pullBlob, which does).
   */
  async getBlob(
    repo: string,
    digest: string,
    options: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    checkRepository(repo);
    checkDigest(digest);
    const offset = options.offset ?? 0;
    const { body, skip } = await this.openBlob(repo, digest, offset, options.signal);
    if (skip > 0) {
      body.destroy();
      throw new RegistryClientError(`registry ignored the Range request for ${digest} (answered 200, not 206)`);
    }
    return body;
  }

  /**
   * Streams a blob into `writable`, hashing it on the way. A connection that breaks mid-body is
   * resumed from the bytes received with a Range request (up to `retries` times). Fails with
   * DigestMismatchError when the content does not hash to `digest` (the bytes already written are
   * then the caller's to discard); the writable is ended only on success (unless `end: false`).
   */
  async pullBlob(
    repo: string,
    digest: string,
    size: number,
    writable: Writable,
    options: PullBlobOptions = {},
  ): Promise<void> {
    checkRepository(repo);
    const parsed = checkDigest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new RegistryClientError(`invalid blob size: ${size}`);
    const retries = options.retries ?? PULL_RETRIES;
    const hash = newHash(parsed.algorithm);
    let received = 0;
    let destinationError: Error | undefined;
    const onDestinationError = (err: Error) => {
      destinationError ??= err;
    };
    writable.on('error', onDestinationError);
    try {
      for (let failures = 0; ; ) {
        let broken: unknown;
        let opened: { body: Readable; skip: number } | undefined;
        try {
          opened = await this.openBlob(repo, digest, received, options.signal);
        } catch (err) {
          // An HTTP answer (404, 401…) is final; a transport failure is worth another try.
          if (!(err instanceof RegistryClientError) || err.status !== undefined) throw err;
          broken = err;
        }
        if (opened) {
          const { body } = opened;
          let skip = opened.skip;
          const it = body[Symbol.asyncIterator]();
          try {
            for (;;) {
              let next: IteratorResult<unknown>;
              try {
                next = await it.next();
              } catch (err) {
                broken = err;
                break;
              }
              if (next.done) break;
              let buf = toBuffer(next.value);
              if (skip > 0) {
                // The registry ignored Range and sent the blob from its start: drop what we have.
                const dropped = Math.min(skip, buf.length);
                skip -= dropped;
                buf = buf.subarray(dropped);
                if (buf.length === 0) continue;
              }
              if (received + buf.length > size) {
                throw new RegistryClientError(`blob ${digest} is larger than the expected ${size} bytes`);
              }
              hash.update(buf);
              received += buf.length;
              if (destinationError) throw new DestinationError(destinationError.message, { cause: destinationError });
              if (!writable.write(buf)) await drained(writable);
              options.onProgress?.(received);
            }
          } finally {
            body.destroy();
          }
          // Every byte arrived before the connection broke: nothing to resume (the digest decides).
          if (broken !== undefined && received === size) broken = undefined;
          if (broken === undefined && received < size) {
            broken = new RegistryClientError(`connection closed after ${received} of ${size} bytes`);
          }
        }
        if (broken === undefined) break;
        if (options.signal?.aborted) throw broken;
        failures++;
        if (failures > retries) {
          const message = broken instanceof Error ? broken.message : String(broken);
          throw new RegistryClientError(
            `download of ${digest} failed after ${received} of ${size} bytes (${failures} attempts): ${message}`,
            { cause: broken },
          );
        }
        const delay = options.retryDelayMs?.(failures) ?? Math.min(100 * 2 ** (failures - 1), 2_000);
        options.onRetry?.(failures, delay);
        await sleep(delay);
      }
      const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(digest, actual, 'blob');
      if (destinationError) throw new DestinationError(destinationError.message, { cause: destinationError });
      if (options.end !== false) await endWritable(writable);
    } catch (err) {
      if (err instanceof DestinationError) {
        throw new RegistryClientError(`writing blob ${digest}: ${err.message}`, { cause: err.cause ?? err });
      }
      throw err;
    } finally {
      writable.off('error', onDestinationError);
    }
  }

  /**
   * Cross-repository mount: POST …/blobs/uploads/?mount=DIGEST&from=FROM with a token that also
   * has pull on FROM. True when mounted (201); on 202 (not mountable: unknown, or not readable by
   * us) the upload session the registry opened instead is cancelled and the answer is false.
   */
  async mountBlob(repo: string, digest: string, from: string, signal?: AbortSignal): Promise<boolean> {
    checkRepository(repo);
    checkRepository(from);
    checkDigest(digest);
    const r = await this.tryMount(repo, digest, from, signal);
    if (r.mounted) return true;
    await this.cancelUpload(repo, r.location);
    return false;
  }

  /**
   * Pushes a blob unless the repository has it: HEAD first; then a mount from each of `mountFrom`;
   * then an upload, in one PUT (POST then PUT ?digest= with the body) below `monolithicLimit`, in
   * PATCH chunks of `chunkSize` (with Content-Range) above. `open` gives the content as a stream
   * (called again if the PUT must be repeated after an auth challenge). The registry verifies the
   * digest.
   */
  async pushBlob(
    repo: string,
    digest: string,
    size: number,
    open: () => Promise<Readable>,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    checkRepository(repo);
    checkDigest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new RegistryClientError(`invalid blob size: ${size}`);
    const { signal } = options;
    if (options.checkExists !== false && (await this.statBlob(repo, digest, pushPull(repo), signal)) !== undefined) {
      return 'exists';
    }
    let session: URL | undefined;
    for (const from of options.mountFrom ?? []) {
      checkRepository(from);
      if (from === repo) continue;
      if (session) await this.cancelUpload(repo, session);
      const r = await this.tryMount(repo, digest, from, signal);
      if (r.mounted) return 'mounted';
      session = r.location;
    }
    let location = session ?? (await this.startUpload(repo, signal));
    try {
      const monolithic = size < (options.monolithicLimit ?? MONOLITHIC_LIMIT);
      if (monolithic) {
        await this.putBlob(repo, digest, size, location, open, options);
      } else {
        location = await this.patchChunks(repo, size, location, open, options);
        await this.finishUpload(repo, digest, location, signal);
      }
    } catch (err) {
      await this.cancelUpload(repo, location);
      throw err;
    }
    return 'pushed';
  }

  /**
   * Uploads content whose digest is not known before it is sent: a layer compressed on the fly, as
   * Docker pushes the layers it made itself. POST, one streaming PATCH (no Content-Length) hashing
   * the bytes on the way, then PUT ?digest= with the digest computed. The source is read once, so
   * a 401 on the PATCH is not retried (the POST before it already got the token).
   */
  async pushStream(
    repo: string,
    source: Readable,
    options: { onProgress?: (sent: number) => void; signal?: AbortSignal } = {},
  ): Promise<{ digest: string; size: number }> {
    checkRepository(repo);
    const { signal } = options;
    const location = await this.startUpload(repo, signal);
    const hash = newHash('sha256');
    let size = 0;
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        const buf = toBuffer(chunk);
        hash.update(buf);
        size += buf.length;
        options.onProgress?.(size);
        yield buf;
      }
    }
    try {
      const res = await this.t.send({
        method: 'PATCH',
        url: location,
        scopes: pushPull(repo),
        headers: { 'content-type': 'application/octet-stream' },
        body: () => Readable.from(hashed(), { objectMode: false }),
        ok: [202, 204],
        signal,
      });
      await discard(res.body);
      const range = header(res.headers, 'range');
      const m = range === undefined ? undefined : /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
      if (m && Number(m[1]) !== size - 1) {
        throw new RegistryClientError(`registry holds bytes 0-${m[1]} of the upload after sending ${size} bytes`, {
          status: res.status,
        });
      }
      const digest = `sha256:${hash.digest('hex')}`;
      await this.finishUpload(repo, digest, this.t.location(res, location), signal);
      return { digest, size };
    } catch (err) {
      source.destroy();
      await this.cancelUpload(repo, location);
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tags

  /** Every tag of a repository, following `Link: <…>; rel="next"` pages. */
  async listTags(repo: string, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    checkRepository(repo);
    const tags: string[] = [];
    let url: string | URL =
      options.pageSize !== undefined ? `/v2/${repo}/tags/list?n=${options.pageSize}` : `/v2/${repo}/tags/list`;
    const seen = new Set<string>();
    for (;;) {
      const res = await this.t.send({
        method: 'GET',
        url,
        scopes: pull(repo),
        headers: { accept: 'application/json' },
        ok: [200],
        signal: options.signal,
      });
      seen.add(res.url.href);
      let page: unknown;
      try {
        page = JSON.parse((await readBytes(res.body, 16 * 1024 * 1024, 'tag list')).toString('utf8'));
      } catch (err) {
        throw new RegistryClientError(`invalid tag list from ${res.url.href}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const list = typeof page === 'object' && page !== null ? (page as { tags?: unknown }).tags : undefined;
      if (Array.isArray(list)) for (const t of list) if (typeof t === 'string') tags.push(t);
      const next = nextLink(headerValues(res.headers, 'link'));
      if (next === undefined) return tags;
      const nextUrl = new URL(next, res.url);
      if (seen.has(nextUrl.href)) throw new RegistryClientError(`tag list pagination loops at ${nextUrl.href}`);
      url = nextUrl;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Internals: blobs

  private async statBlob(
    repo: string,
    digest: string,
    scopes: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<number | undefined> {
    const res = await this.t.send({
      method: 'HEAD',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes,
      ok: [200, 404],
      signal,
    });
    await discard(res.body);
    if (res.status === 404) return undefined;
    const size = Number(header(res.headers, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RegistryClientError(`registry answered HEAD of blob ${digest} without a valid Content-Length`);
    }
    return size;
  }

  /** GET a blob from `offset`: the body, and how many leading bytes to drop (when Range was ignored). */
  private async openBlob(
    repo: string,
    digest: string,
    offset: number,
    signal: AbortSignal | undefined,
  ): Promise<{ body: Readable; skip: number }> {
    const res = await this.t.send({
      method: 'GET',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes: pull(repo),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      ok: offset > 0 ? [200, 206] : [200],
      signal,
    });
    if (res.status === 206) {
      const m = /^bytes\s+(\d+)-/.exec(header(res.headers, 'content-range') ?? '');
      if (!m || Number(m[1]) !== offset) {
        await discard(res.body);
        throw new RegistryClientError(
          `registry answered Range bytes=${offset}- with Content-Range ${header(res.headers, 'content-range') ?? '(none)'}`,
          { status: 206 },
        );
      }
      return { body: res.body, skip: 0 };
    }
    return { body: res.body, skip: offset };
  }

  private async tryMount(
    repo: string,
    digest: string,
    from: string,
    signal: AbortSignal | undefined,
  ): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const res = await this.t.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes: [...pushPull(repo), ...pull(from)],
      ok: [201, 202],
      signal,
    });
    await discard(res.body);
    if (res.status === 201) return { mounted: true };
    return { mounted: false, location: this.t.location(res) };
  }

  private async startUpload(repo: string, signal: AbortSignal | undefined): Promise<URL> {
    const res = await this.t.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      scopes: pushPull(repo),
      ok: [202],
      signal,
    });
    await discard(res.body);
    return this.t.location(res);
  }

  /** Best effort: DELETE an upload session (failures ignored). */
  private async cancelUpload(repo: string, location: URL): Promise<void> {
    try {
      const res = await this.t.send({
        method: 'DELETE',
        url: location,
        scopes: pushPull(repo),
        ok: [200, 202, 204, 404],
      });
      await discard(res.body);
    } catch {
      // the session expires on its own
    }
  }

  /** Monolithic upload: PUT LOCATION?digest= with the whole content. */
  private async putBlob(
    repo: string,
    digest: string,
    size: number,
    location: URL,
    open: () => Promise<Readable>,
    options: PushBlobOptions,
  ): Promise<void> {
    let source: Readable | undefined;
    const body = async (): Promise<Readable> => {
      source?.destroy();
      const opened = await open();
      source = opened;
      const reader = new ByteReader(opened, size);
      let sent = 0;
      async function* exactly(): AsyncGenerator<Buffer> {
        yield* reader.take(size, (n) => {
          sent += n;
          options.onProgress?.(sent);
        });
        if (!(await reader.atEnd()))
          throw new RegistryClientError(`blob content is longer than its size, ${size} bytes`);
      }
      return Readable.from(exactly(), { objectMode: false });
    };
    try {
      const res = await this.t.send({
        method: 'PUT',
        url: withQuery(location, 'digest', digest),
        scopes: pushPull(repo),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body,
        replayable: true,
        ok: [201, 204],
        signal: options.signal,
      });
      await discard(res.body);
      this.checkCreated(res, digest);
    } finally {
      source?.destroy();
    }
  }

  /** Chunked upload: one PATCH per chunk with its Content-Range; returns the Location to PUT to. */
  private async patchChunks(
    repo: string,
    size: number,
    location: URL,
    open: () => Promise<Readable>,
    options: PushBlobOptions,
  ): Promise<URL> {
    const chunkSize = options.chunkSize ?? CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RegistryClientError('invalid chunk size');
    const source = await open();
    try {
      const reader = new ByteReader(source, size);
      let sent = 0;
      let current = location;
      for (let start = 0; start < size; start += chunkSize) {
        const length = Math.min(chunkSize, size - start);
        const end = start + length - 1;
        const res = await this.t.send({
          method: 'PATCH',
          url: current,
          scopes: pushPull(repo),
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${start}-${end}`,
          },
          body: () =>
            Readable.from(
              reader.take(length, (n) => {
                sent += n;
                options.onProgress?.(sent);
              }),
              { objectMode: false },
            ),
          ok: [202, 204],
          signal: options.signal,
        });
        await discard(res.body);
        const range = header(res.headers, 'range');
        const m = range === undefined ? undefined : /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
        if (m && Number(m[1]) !== end) {
          throw new RegistryClientError(`registry holds bytes 0-${m[1]} of the upload after sending 0-${end}`, {
            status: res.status,
          });
        }
        current = this.t.location(res, current);
      }
      if (!(await reader.atEnd())) throw new RegistryClientError(`blob content is longer than its size, ${size} bytes`);
      return current;
    } finally {
      source.destroy();
    }
  }

  /** PUT LOCATION?digest= without a body: the end of a chunked upload. */
  private async finishUpload(repo: string, digest: string, location: URL, signal: AbortSignal | undefined) {
    const res = await this.t.send({
      method: 'PUT',
      url: withQuery(location, 'digest', digest),
      scopes: pushPull(repo),
      ok: [201, 204],
      signal,
    });
    await discard(res.body);
    this.checkCreated(res, digest);
  }

  private checkCreated(res: Answer, digest: string): void {
    const answered = header(res.headers, 'docker-content-digest');
    if (
      answered !== undefined &&
      answered !== digest &&
      parseDigest(answered)?.algorithm === parseDigest(digest)?.algorithm
    ) {
      throw new RegistryClientError(`registry stored blob ${digest} as ${answered}`, { status: res.status });
    }
  }
}

/** The media type of a manifest: its Content-Type, or its `mediaType` field when the registry sent a generic type. */
function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const type = contentType?.split(';')[0]?.trim() ?? '';
  if (type !== '' && type !== 'application/json' && type !== 'text/plain' && type !== 'application/octet-stream') {
    return type;
  }
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null) {
      const field = (parsed as { mediaType?: unknown }).mediaType;
      if (typeof field === 'string' && field !== '') return field;
    }
  } catch {
    // not JSON: keep what the registry said
  }
  return type;
}
