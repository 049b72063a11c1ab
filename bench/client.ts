// A minimal OCI distribution client on an undici keep-alive Pool.
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';

type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
}

export interface ReqOptions {
  headers?: Record<string, string>;
  body?: Buffer | Readable | null;
  /** Keep the body as text (for small JSON answers); otherwise it is drained. */
  text?: boolean;
}

export class HttpStatusError extends Error {}

export class RegistryClient {
  readonly pool: Pool;
  /** Sent with every request when set (a bearer token, for servers in token mode). */
  authorization: string | undefined;

  constructor(
    readonly origin: string,
    connections = 64,
  ) {
    // Stall detectors, not deadlines: undici restarts the headers timer whenever a request
    // body write makes progress, so a 512 MiB upload is fine, but a server that stops
    // reading or never answers fails the step after 30 s instead of hanging the run.
    this.pool = new Pool(origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  }

  /** `extra` plus the Authorization header, if any. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.authorization === undefined ? extra : { ...extra, authorization: this.authorization };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  async req(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    opts: ReqOptions = {},
  ): Promise<Reply & { text: string }> {
    const res = await this.pool.request({ method, path, headers: this.headers(opts.headers), body: opts.body ?? null });
    let text = '';
    if (opts.text === true || res.statusCode >= 400) text = await res.body.text();
    else await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
    return { status: res.statusCode, headers: res.headers, text };
  }

  /** Turns a Location header (absolute or relative) into a path for this pool. */
  locationPath(reply: Reply, context: string): URL {
    const loc = reply.headers.location;
    const value = Array.isArray(loc) ? loc[0] : loc;
    if (value === undefined) throw new Error(`${context}: no Location header`);
    return new URL(value, this.origin);
  }

  static expect(reply: Reply & { text: string }, ok: number[], context: string): void {
    if (!ok.includes(reply.status)) {
      throw new HttpStatusError(`${context}: HTTP ${reply.status} ${reply.text.slice(0, 300)}`);
    }
  }

  async startUpload(repo: string): Promise<URL> {
    const r = await this.req('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
    RegistryClient.expect(r, [202], `POST ${repo} upload`);
    return this.locationPath(r, 'POST upload');
  }

  /** PUT <location>?digest=… finishing an upload; body may be empty (after PATCHes). */
  async finishUpload(location: URL, digest: string, body: Buffer | Readable | null, size: number): Promise<void> {
    const url = new URL(location.href);
    url.searchParams.set('digest', digest);
    const r = await this.req('PUT', url.pathname + url.search, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
    });
    RegistryClient.expect(r, [201], `PUT upload ${digest}`);
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const r = await this.req('HEAD', `/v2/${repo}/blobs/${digest}`);
    if (r.status === 200) return true;
    if (r.status === 404) return false;
    throw new HttpStatusError(`HEAD blob: HTTP ${r.status}`);
  }

  /** What a client does for a small blob: HEAD, then POST + monolithic PUT if missing. */
  async pushSmallBlob(repo: string, data: Buffer, digest: string): Promise<void> {
    if (await this.blobExists(repo, digest)) return;
    const loc = await this.startUpload(repo);
    await this.finishUpload(loc, digest, data, data.length);
  }

  /** Cross-repository mount; falls back to an upload when the server declines (202). */
  async mountOrPush(repo: string, from: string, data: Buffer, digest: string): Promise<void> {
    const r = await this.req(
      'POST',
      `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      {
        headers: { 'content-length': '0' },
      },
    );
    if (r.status === 201) return;
    RegistryClient.expect(r, [202], `mount ${digest} into ${repo}`);
    await this.finishUpload(this.locationPath(r, 'mount fallback'), digest, data, data.length);
  }

  async putManifest(repo: string, ref: string, manifest: Buffer, mediaType: string): Promise<void> {
    const r = await this.req('PUT', `/v2/${repo}/manifests/${ref}`, {
      headers: { 'content-type': mediaType, 'content-length': String(manifest.length) },
      body: manifest,
    });
    RegistryClient.expect(r, [201], `PUT manifest ${repo}:${ref}`);
  }
}
