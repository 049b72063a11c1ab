// "Streams, not buffers" (DESIGN.md, Rules of the road), checked on a real `wharf serve`
// process: a 1 GiB blob goes up (monolithic and chunked) and comes down while the server's
// resident memory stays under 150 MB, and HEAD on that blob reads none of its bytes.
//
// The 1 GiB is generated on the fly from one shared 1 MiB pseudo-random block plus a small
// per-block header (seed + block index), so the client never holds a blob in memory either
// and no two blocks (nor the two blobs) share content.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobDigest, blobPieces } from '../support/generated-blob.js';
import { startWharf, type WharfProcess } from '../support/server.js';

const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const CHUNK = 64 * MiB;
const RSS_LIMIT = 150 * 1000 * 1000;
const REPO = 'stream/big';

// ---------------------------------------------------------------------------------------
// Deterministic data

/** A stream of the bytes [start, end), optionally hashing them as they are produced. */
function bodyStream(seed: number, start: number, end: number, hash?: ReturnType<typeof createHash>): Readable {
  return Readable.from(
    (function* () {
      for (const p of blobPieces(seed, start, end)) {
        hash?.update(p);
        yield p;
      }
    })(),
    { objectMode: false },
  );
}

function sliceOf(seed: number, start: number, end: number): Buffer {
  return Buffer.concat([...blobPieces(seed, start, end)]);
}

// ---------------------------------------------------------------------------------------
// Watching the server process through /proc

function procField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Bytes the process has read through read()-like syscalls (files and sockets alike). */
function rchar(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const m = /^rchar:\s+(\d+)$/m.exec(io);
  if (!m) throw new Error(`no rchar in /proc/${pid}/io`);
  return Number(m[1]);
}

/** Samples VmRSS every ~50 ms while `work` runs; returns the peak and the number of samples. */
async function watchRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number; samples: number }> {
  let peak = procField(pid, 'VmRSS');
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procField(pid, 'VmRSS'));
      samples++;
    } catch {
      // process gone: the work will fail and say why
    }
  }, 50);
  try {
    const result = await work();
    peak = Math.max(peak, procField(pid, 'VmRSS'));
    samples++;
    return { result, peak, samples };
  } finally {
    clearInterval(timer);
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

// ---------------------------------------------------------------------------------------
// HTTP

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function expectStatus(res: Dispatcher.ResponseData, status: number, context: string): Promise<void> {
  if (res.statusCode !== status) {
    const text = await res.body.text();
    throw new Error(`${context}: expected HTTP ${status}, got ${res.statusCode}: ${text.slice(0, 500)}`);
  }
}

/** Path (and query) of a Location header, absolute or relative. */
function locationPath(res: Dispatcher.ResponseData, origin: string): string {
  const loc = header(res, 'location');
  if (loc === undefined) throw new Error('response has no Location header');
  const url = new URL(loc, origin);
  return `${url.pathname}${url.search}`;
}

function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

// ---------------------------------------------------------------------------------------

describe('streaming a 1 GiB blob through a real server', () => {
  const report: string[] = [];
  let dataDir: string;
  let server: WharfProcess;
  let pool: Pool;
  let pid: number;
  const monoSeed = 1;
  const chunkSeed = 2;
  let monoDigest: string;
  let chunkDigest: string | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-streaming-'));
    server = await startWharf({ dataDir });
    if (server.child.pid === undefined) throw new Error('server has no pid');
    pid = server.child.pid;
    report.push(`server RSS after start: ${mb(procField(pid, 'VmRSS'))}`);
    // Generous stall timers only: a server that stops reading fails the test instead of hanging it.
    pool = new Pool(server.url, { connections: 4, headersTimeout: 60_000, bodyTimeout: 60_000 });
    const t0 = Date.now();
    monoDigest = blobDigest(monoSeed, SIZE);
    report.push(`first pass sha256 of 1 GiB: ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    await pool?.close();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (report.length > 0) console.log(`[streaming] ${report.join('\n[streaming] ')}`);
  });

  it('takes a monolithic 1 GiB POST ?digest= with the server RSS under 150 MB', { timeout: 90_000 }, async () => {
    const t0 = Date.now();
    const {
      result: res,
      peak,
      samples,
    } = await watchRss(pid, async () => {
      const r = await pool.request({
        method: 'POST',
        path: withQuery(`/v2/${REPO}/blobs/uploads/`, 'digest', monoDigest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
        body: bodyStream(monoSeed, 0, SIZE),
      });
      await expectStatus(r, 201, 'monolithic upload');
      await r.body.dump();
      return r;
    });
    report.push(`monolithic upload: ${Date.now() - t0} ms, RSS peak ${mb(peak)} (${samples} samples)`);
    expect(header(res, 'docker-content-digest')).toBe(monoDigest);
    expect(locationPath(res, server.url)).toBe(`/v2/${REPO}/blobs/${monoDigest}`);
    expect(peak, `server RSS peak during the monolithic upload\n${server.log()}`).toBeLessThan(RSS_LIMIT);
  });

  it('takes a chunked 1 GiB upload (64 MiB PATCHes) with the server RSS under 150 MB', {
    timeout: 90_000,
  }, async () => {
    const hash = createHash('sha256');
    const t0 = Date.now();
    const { peak, samples } = await watchRss(pid, async () => {
      const start = await pool.request({ method: 'POST', path: `/v2/${REPO}/blobs/uploads/` });
      await expectStatus(start, 202, 'upload start');
      await start.body.dump();
      let location = locationPath(start, server.url);
      for (let offset = 0; offset < SIZE; offset += CHUNK) {
        const end = Math.min(offset + CHUNK, SIZE);
        const patch = await pool.request({
          method: 'PATCH',
          path: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${end - 1}`,
            'content-length': String(end - offset),
          },
          body: bodyStream(chunkSeed, offset, end, hash),
        });
        await expectStatus(patch, 202, `PATCH ${offset}-${end - 1}`);
        await patch.body.dump();
        expect(header(patch, 'range')).toBe(`0-${end - 1}`);
        location = locationPath(patch, server.url);
      }
      chunkDigest = `sha256:${hash.digest('hex')}`;
      // Not visible under its digest before the closing PUT.
      const early = await pool.request({ method: 'HEAD', path: `/v2/${REPO}/blobs/${chunkDigest}` });
      await early.body.dump();
      expect(early.statusCode).toBe(404);
      const put = await pool.request({
        method: 'PUT',
        path: withQuery(location, 'digest', chunkDigest),
        headers: { 'content-length': '0' },
      });
      await expectStatus(put, 201, 'closing PUT');
      await put.body.dump();
      expect(header(put, 'docker-content-digest')).toBe(chunkDigest);
    });
    report.push(`chunked upload (16 x 64 MiB): ${Date.now() - t0} ms, RSS peak ${mb(peak)} (${samples} samples)`);
    expect(peak, `server RSS peak during the chunked upload\n${server.log()}`).toBeLessThan(RSS_LIMIT);
  });

  it('serves the 1 GiB blob (GET and a Range in the middle) with the server RSS under 150 MB', {
    timeout: 90_000,
  }, async () => {
    const download = async (digest: string) => {
      const res = await pool.request({ method: 'GET', path: `/v2/${REPO}/blobs/${digest}` });
      await expectStatus(res, 200, 'blob GET');
      expect(header(res, 'content-length')).toBe(String(SIZE));
      expect(header(res, 'docker-content-digest')).toBe(digest);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
      }
      return { size, digest: `sha256:${hash.digest('hex')}` };
    };
    // Both blobs: the one pushed whole and the one assembled from chunks.
    const digests = [monoDigest, ...(chunkDigest ? [chunkDigest] : [])];
    for (const digest of digests) {
      const t0 = Date.now();
      const { result: got, peak, samples } = await watchRss(pid, () => download(digest));
      const kind = digest === monoDigest ? 'monolithic' : 'chunked';
      report.push(`download of the ${kind} blob: ${Date.now() - t0} ms, RSS peak ${mb(peak)} (${samples} samples)`);
      expect(got).toEqual({ size: SIZE, digest });
      expect(peak, `server RSS peak during the download\n${server.log()}`).toBeLessThan(RSS_LIMIT);
    }

    // A slice that starts and ends inside blocks, in the middle of the blob.
    const start = 512 * MiB + 12_345;
    const end = start + 3 * MiB + 77 - 1;
    const ranged = await pool.request({
      method: 'GET',
      path: `/v2/${REPO}/blobs/${monoDigest}`,
      headers: { range: `bytes=${start}-${end}` },
    });
    await expectStatus(ranged, 206, 'Range GET');
    expect(header(ranged, 'content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(header(ranged, 'content-length')).toBe(String(end - start + 1));
    const body = Buffer.from(await ranged.body.arrayBuffer());
    expect(body.length).toBe(end - start + 1);
    const expected = sliceOf(monoSeed, start, end + 1);
    const firstDiff = body.findIndex((b, i) => b !== expected[i]);
    expect(firstDiff, `Range body differs from the blob's bytes ${start}-${end} at offset ${firstDiff}`).toBe(-1);
  });

  it('answers HEAD on the 1 GiB blob without reading its bytes', async () => {
    const digests = [monoDigest, ...(chunkDigest ? [chunkDigest] : [])];
    const before = rchar(pid);
    const head = async (digest: string) => {
      const res = await pool.request({ method: 'HEAD', path: `/v2/${REPO}/blobs/${digest}` });
      await expectStatus(res, 200, 'blob HEAD');
      expect(header(res, 'content-length')).toBe(String(SIZE));
      expect(header(res, 'docker-content-digest')).toBe(digest);
      const rest = await res.body.arrayBuffer();
      expect(rest.byteLength).toBe(0);
    };
    await head(monoDigest);
    const afterOne = rchar(pid) - before;
    for (let i = 0; i < 5; i++) for (const d of digests) await head(d);
    const afterMany = rchar(pid) - before;
    report.push(`HEAD: rchar delta ${afterOne} B after one HEAD, ${afterMany} B after ${1 + 5 * digests.length}`);
    expect(afterOne).toBeLessThan(MiB);
    expect(afterMany).toBeLessThan(MiB);
  });

  it('never went over 150 MB resident (VmHWM over the whole run)', () => {
    const hwm = procField(pid, 'VmHWM');
    report.push(`VmHWM at the end: ${mb(hwm)}`);
    expect(hwm, server.log()).toBeLessThan(RSS_LIMIT);
  });
});

// "Verify while streaming … a digest mismatch deletes the temp data and answers DIGEST_INVALID."
describe('a streamed upload whose bytes do not match its digest', () => {
  it('is answered DIGEST_INVALID and leaves no bytes behind', { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wharf-streaming-mismatch-'));
    const server = await startWharf({ dataDir });
    const pool = new Pool(server.url, { headersTimeout: 15_000, bodyTimeout: 15_000 });
    try {
      const size = 64 * MiB;
      const actual = blobDigest(3, size);
      const claimed = blobDigest(4, size);
      let res: Dispatcher.ResponseData;
      try {
        res = await pool.request({
          method: 'POST',
          path: withQuery(`/v2/${REPO}/blobs/uploads/`, 'digest', claimed),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: bodyStream(3, 0, size),
        });
      } catch (err) {
        throw new Error(`no answer to an upload with the wrong digest (expected 400 DIGEST_INVALID): ${String(err)}`);
      }
      expect(res.statusCode).toBe(400);
      const error = JSON.parse(await res.body.text()) as { errors: { code: string }[] };
      expect(error.errors[0]?.code).toBe('DIGEST_INVALID');
      for (const digest of [claimed, actual]) {
        const head = await pool.request({ method: 'HEAD', path: `/v2/${REPO}/blobs/${digest}` });
        await head.body.dump();
        expect(head.statusCode, `HEAD ${digest}`).toBe(404);
      }
      const files = async (dir: string) => {
        try {
          const entries = await readdir(join(dataDir, dir), { recursive: true, withFileTypes: true });
          return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
        } catch {
          return [];
        }
      };
      expect(await files('blobs'), 'files under blobs/').toEqual([]);
      expect(await files('uploads'), 'temp data left under uploads/').toEqual([]);
    } finally {
      await pool.destroy();
      await server.kill();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
