// The conformance suite every StorageDriver must pass (after CNCF Distribution's
// storagedriver testsuites). It tests only the interface contract, never how a
// driver keeps its objects, so that a remote driver (S3) can run it unchanged.
//
// Beyond the basics it pins down what src/registry/uploads.ts relies on, which a
// remote driver must therefore provide too: an appending writer may open a path
// that does not exist yet, or one that was committed; bytes are visible (stat,
// reader) after close() without a commit; and a stream that fails mid-write leaves
// an object that is still consistent and can be appended to.
//
// Deliberately left unspecified, because drivers legitimately differ:
//   - whether a directory emptied by delete()/move() still exists;
//   - how many of the bytes written before a stream error are kept (a prefix);
//   - whether close()/commit() reject after the stream failed.
import { createHash } from 'node:crypto';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidOffsetError,
  InvalidPathError,
  PathNotFoundError,
  type StorageDriver,
  StorageError,
} from '../../src/storage/driver.js';

export interface DriverFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Syntactically invalid for every method, including stat() and list() which accept the root. */
export const INVALID_PATHS: readonly string[] = [
  '',
  'a',
  'a/b',
  '..',
  '.',
  '/.',
  '/..',
  '/a/..',
  '/a/../b',
  '/./a',
  '/a/./b',
  '//a',
  '/a//b',
  '/a/',
  '/a/b/',
  '//',
  '/a b',
  '/a\tb',
  '/a\nb',
  '/a\nb\n',
  '/a\u0000b',
  '/a\\b',
  '/a:b',
  '/a*b',
  '/a?b',
  '/a%2Fb',
  '/a+b',
  '/a~',
  '/ä',
  '/\u{1F600}',
  ' /a',
  '\\a',
  'C:\\a',
];

/** Invalid for the methods that take an object path: the root is a directory, never an object. */
const INVALID_OBJECT_PATHS: readonly string[] = [...INVALID_PATHS, '/'];

// ---- helpers ---------------------------------------------------------------

function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** Every byte value, so that no driver gets away with text-only handling. */
function binary(length: number, salt = 0): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = (i * 31 + salt) & 0xff;
  return buf;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

async function digestOf(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Uneven chunk sizes, so that buffer boundaries land in odd places. */
const CHUNK_SIZES = [1, 65_536, 1_000_003, 7, 262_144, 2 * MiB + 5, 4_093];

/** Deterministic pseudo-random bytes (xorshift32), `total` of them in uneven chunks. */
function* pseudoRandom(total: number, seed: number): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  let produced = 0;
  for (let i = 0; produced < total; i++) {
    const size = Math.min(total - produced, CHUNK_SIZES[i % CHUNK_SIZES.length] ?? 1);
    const buf = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      buf[j] = state & 0xff;
    }
    produced += size;
    yield buf;
  }
}

/** sha256 of pseudoRandom(total, seed) from `offset` on, without holding it in memory. */
function expectedDigest(total: number, seed: number, offset = 0): { sha256: string; size: number } {
  const hash = createHash('sha256');
  let position = 0;
  for (const chunk of pseudoRandom(total, seed)) {
    const end = position + chunk.length;
    if (end > offset) hash.update(chunk.subarray(Math.max(0, offset - position)));
    position = end;
  }
  return { sha256: hash.digest('hex'), size: total - offset };
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes and waits for the chunk to be accepted (its write callback). */
function writeChunk(stream: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err?: Error | null) => (err ? reject(err) : resolve()));
  });
}

type ErrorClass = new (...args: never[]) => StorageError;

/** Asserts that `promise` rejects with `type` (a StorageError) naming `path`. */
async function expectStorageError(promise: Promise<unknown>, type: ErrorClass, path?: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${type.name}${path === undefined ? '' : ` for ${JSON.stringify(path)}`}`).toBeInstanceOf(type);
  expect(err).toBeInstanceOf(StorageError);
  if (path !== undefined) expect((err as StorageError).path).toBe(path);
}

// ---- the suite -------------------------------------------------------------

export function runDriverSuite(label: string, make: () => Promise<DriverFixture>): void {
  describe(`storage driver conformance: ${label}`, () => {
    let fixture: DriverFixture | undefined;
    let driver: StorageDriver;

    beforeEach(async () => {
      fixture = await make();
      driver = fixture.driver;
    });

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('has a name', () => {
      expect(typeof driver.name).toBe('string');
      expect(driver.name.length).toBeGreaterThan(0);
    });

    describe('sendTo', () => {
      /** A sink that records what it got and, like a socket, flushes each write a moment later. */
      const sink = () => {
        const chunks: Buffer[] = [];
        const dest = new Writable({
          highWaterMark: 64 * 1024,
          write(chunk: Buffer, _enc, cb) {
            // Copy: a sender may reuse its buffer once the write is flushed.
            chunks.push(Buffer.from(chunk));
            setImmediate(cb);
          },
        });
        return { dest, data: () => Buffer.concat(chunks) };
      };

      it('writes a whole multi-MiB object, byte for byte, without ending the destination', async () => {
        const data = binary(5 * 1024 * 1024 + 123);
        await driver.putContent('/send/big', data);
        const out = sink();
        await driver.sendTo('/send/big', out.dest);
        expect(out.dest.writableEnded).toBe(false);
        expect(sha256(out.data())).toBe(sha256(data));
      });

      it('writes a span, an empty span at the end, and an empty object', async () => {
        const data = binary(3 * 1024 * 1024);
        await driver.putContent('/send/span', data);
        const a = sink();
        await driver.sendTo('/send/span', a.dest, { offset: 1_000_001, length: 2_000_000 });
        expect(a.data().equals(data.subarray(1_000_001, 3_000_001))).toBe(true);
        const b = sink();
        await driver.sendTo('/send/span', b.dest, { offset: data.length, length: 0 });
        expect(b.data().length).toBe(0);
        await driver.putContent('/send/empty', Buffer.alloc(0));
        const c = sink();
        await driver.sendTo('/send/empty', c.dest);
        expect(c.data().length).toBe(0);
      });

      it('throws before writing for a missing object, an invalid path or a span past the end', async () => {
        await driver.putContent('/send/ten', bytes('0123456789'));
        const out = sink();
        await expectStorageError(driver.sendTo('/send/missing', out.dest), PathNotFoundError, '/send/missing');
        await expectStorageError(driver.sendTo('/send/../x', out.dest), InvalidPathError, '/send/../x');
        await expect(driver.sendTo('/send/ten', out.dest, { offset: 5, length: 6 })).rejects.toBeInstanceOf(
          InvalidOffsetError,
        );
        await expect(driver.sendTo('/send/ten', out.dest, { offset: 11, length: 0 })).rejects.toBeInstanceOf(
          InvalidOffsetError,
        );
        expect(out.data().length).toBe(0);
      });

      it('stops with an error when the destination goes away', async () => {
        await driver.putContent('/send/gone', binary(4 * 1024 * 1024));
        const dest = new Writable({
          write(_chunk, _enc, cb) {
            setImmediate(() => dest.destroy());
            setImmediate(cb);
          },
        });
        await expect(driver.sendTo('/send/gone', dest)).rejects.toThrow();
      });
    });

    describe('getContent / putContent', () => {
      it('round-trips text, binary and empty content', async () => {
        const cases: [string, Buffer][] = [
          ['/text', bytes('hello, wharf\n')],
          ['/bin/all-bytes', binary(256 * 4 + 3)],
          ['/empty', Buffer.alloc(0)],
          ['/deep/ly/nested/dir/Obj_1.2-3', bytes('deep')],
        ];
        for (const [path, data] of cases) await driver.putContent(path, data);
        for (const [path, data] of cases) {
          const got = await driver.getContent(path);
          expect(Buffer.isBuffer(got)).toBe(true);
          expect(got.equals(data), path).toBe(true);
        }
      });

      it('accepts a plain Uint8Array and a Buffer that is a view into a larger buffer', async () => {
        await driver.putContent('/u8', new Uint8Array([1, 2, 3, 250]));
        expect([...(await driver.getContent('/u8'))]).toEqual([1, 2, 3, 250]);

        const backing = bytes('xxxxPAYLOADyyyy');
        await driver.putContent('/view', backing.subarray(4, 11));
        expect((await driver.getContent('/view')).toString()).toBe('PAYLOAD');
      });

      it('overwrites an existing object, both with longer and with shorter content', async () => {
        await driver.putContent('/o/obj', bytes('first'));
        await driver.putContent('/o/obj', bytes('a much longer second version'));
        expect((await driver.getContent('/o/obj')).toString()).toBe('a much longer second version');
        await driver.putContent('/o/obj', bytes('3rd'));
        expect((await driver.getContent('/o/obj')).toString()).toBe('3rd');
        expect((await driver.stat('/o/obj')).size).toBe(3);
        await driver.putContent('/o/obj', Buffer.alloc(0));
        expect((await driver.getContent('/o/obj')).length).toBe(0);
      });

      it('stores a copy: mutating the caller’s buffers afterwards changes nothing', async () => {
        const input = bytes('original');
        await driver.putContent('/copy', input);
        input.fill(0x21);
        const first = await driver.getContent('/copy');
        expect(first.toString()).toBe('original');
        first.fill(0x21);
        expect((await driver.getContent('/copy')).toString()).toBe('original');
      });

      it('returns the full new content as soon as putContent resolves', async () => {
        for (let round = 0; round < 8; round++) {
          const data = binary(MiB + round * 4099, round);
          await driver.putContent('/atomic/obj', data);
          const got = await driver.getContent('/atomic/obj');
          expect(got.length).toBe(data.length);
          expect(sha256(got)).toBe(sha256(data));
        }
      });

      it('readers racing an overwrite see the old or the new content, never a mix', async () => {
        const versions = [binary(512 * 1024, 1), binary(700 * 1024, 2), binary(300 * 1024, 3)];
        const known = new Set(versions.map(sha256));
        await driver.putContent('/race/obj', versions[0] ?? Buffer.alloc(0));
        let writing = true;
        const writes = (async () => {
          try {
            for (let i = 0; i < 12; i++)
              await driver.putContent('/race/obj', versions[i % versions.length] ?? Buffer.alloc(0));
          } finally {
            writing = false;
          }
        })();
        try {
          let reads = 0;
          while (writing || reads < 3) {
            const got = await driver.getContent('/race/obj');
            expect(known.has(sha256(got)), `read ${reads} returned ${got.length} bytes of unknown content`).toBe(true);
            reads++;
            await nextTurn();
          }
        } finally {
          await writes; // never leave writes running into the next test's cleanup
        }
      });

      it('concurrent putContent to one path leaves exactly one of the versions', async () => {
        const versions = Array.from({ length: 6 }, (_, i) => binary(64 * 1024 + i * 1000, i));
        await Promise.all(versions.map((v) => driver.putContent('/same/obj', v)));
        const got = await driver.getContent('/same/obj');
        expect(versions.map(sha256)).toContain(sha256(got));
      });

      it('concurrent putContent to different paths keeps each object intact', async () => {
        const items = Array.from({ length: 16 }, (_, i) => ({
          path: `/many/${i % 4}/obj${i}`,
          data: binary(10_000 + i * 777, i),
        }));
        await Promise.all(items.map(({ path, data }) => driver.putContent(path, data)));
        for (const { path, data } of items) expect((await driver.getContent(path)).equals(data), path).toBe(true);
      });
    });

    describe('missing paths throw PathNotFoundError', () => {
      const missing = ['/missing', '/no/such/dir/obj', '/dir/missing', '/dir/obj/below-an-object'];

      beforeEach(async () => {
        await driver.putContent('/dir/obj', bytes('x'));
      });

      it('getContent', async () => {
        for (const p of missing) await expectStorageError(driver.getContent(p), PathNotFoundError, p);
      });

      it('reader, at offset 0 and beyond', async () => {
        for (const p of missing) {
          await expectStorageError(driver.reader(p), PathNotFoundError, p);
          await expectStorageError(driver.reader(p, 0), PathNotFoundError, p);
          await expectStorageError(driver.reader(p, 10), PathNotFoundError, p);
        }
      });

      it('stat', async () => {
        for (const p of missing) await expectStorageError(driver.stat(p), PathNotFoundError, p);
      });

      it('list', async () => {
        for (const p of missing) await expectStorageError(driver.list(p), PathNotFoundError, p);
      });

      it('delete', async () => {
        for (const p of missing) await expectStorageError(driver.delete(p), PathNotFoundError, p);
        expect((await driver.getContent('/dir/obj')).toString()).toBe('x');
      });

      it('move of a missing source, leaving an existing destination alone', async () => {
        await driver.putContent('/dest', bytes('keep me'));
        for (const p of missing) {
          await expectStorageError(driver.move(p, '/dest'), PathNotFoundError, p);
          await expectStorageError(driver.move(p, '/fresh/dest'), PathNotFoundError, p);
        }
        expect((await driver.getContent('/dest')).toString()).toBe('keep me');
        await expectStorageError(driver.getContent('/fresh/dest'), PathNotFoundError);
      });

      it('getContent and reader of a directory: there is no object there', async () => {
        await expectStorageError(driver.getContent('/dir'), PathNotFoundError, '/dir');
        await expectStorageError(driver.reader('/dir'), PathNotFoundError, '/dir');
      });

      it('list of an object (it is not a directory)', async () => {
        await expectStorageError(driver.list('/dir/obj'), PathNotFoundError, '/dir/obj');
      });
    });

    describe('invalid paths throw InvalidPathError', () => {
      beforeEach(async () => {
        await driver.putContent('/valid/obj', bytes('valid'));
      });

      it('getContent', async () => {
        for (const p of INVALID_OBJECT_PATHS) await expectStorageError(driver.getContent(p), InvalidPathError, p);
      });

      it('putContent', async () => {
        for (const p of INVALID_OBJECT_PATHS)
          await expectStorageError(driver.putContent(p, bytes('x')), InvalidPathError, p);
      });

      it('reader', async () => {
        for (const p of INVALID_OBJECT_PATHS) {
          await expectStorageError(driver.reader(p), InvalidPathError, p);
          await expectStorageError(driver.reader(p, 1), InvalidPathError, p);
        }
      });

      it('writer, with and without append', async () => {
        for (const p of INVALID_OBJECT_PATHS) {
          await expectStorageError(driver.writer(p), InvalidPathError, p);
          await expectStorageError(driver.writer(p, { append: true }), InvalidPathError, p);
        }
      });

      it('stat', async () => {
        for (const p of INVALID_PATHS) await expectStorageError(driver.stat(p), InvalidPathError, p);
      });

      it('list', async () => {
        for (const p of INVALID_PATHS) await expectStorageError(driver.list(p), InvalidPathError, p);
      });

      it('move, as source or destination, whether or not the other side exists', async () => {
        for (const p of INVALID_OBJECT_PATHS) {
          await expectStorageError(driver.move(p, '/valid/dest'), InvalidPathError, p);
          await expectStorageError(driver.move('/valid/obj', p), InvalidPathError, p);
          await expectStorageError(driver.move('/valid/missing', p), InvalidPathError, p);
        }
        expect((await driver.getContent('/valid/obj')).toString()).toBe('valid');
        await expectStorageError(driver.stat('/valid/dest'), PathNotFoundError);
      });

      it('delete', async () => {
        for (const p of INVALID_OBJECT_PATHS) await expectStorageError(driver.delete(p), InvalidPathError, p);
      });

      it('rejected calls change nothing', async () => {
        for (const p of INVALID_OBJECT_PATHS) {
          await driver.putContent(p, bytes('nope')).catch(() => {});
          await driver.writer(p).catch(() => {});
          await driver.delete(p).catch(() => {});
          await driver.move('/valid/obj', p).catch(() => {});
        }
        expect(await driver.list('/')).toEqual(['/valid']);
        expect(await driver.list('/valid')).toEqual(['/valid/obj']);
        expect((await driver.getContent('/valid/obj')).toString()).toBe('valid');
      });

      it('the accepted alphabet works: letters, digits, ".", "_", "-"', async () => {
        const odd = ['/A-Z_a-z.0-9', '/x/...', '/x/.hidden', '/x/-dash', '/x/_under', '/x/trailing.', '/x/a..b'];
        for (const p of odd) await driver.putContent(p, bytes(p));
        for (const p of odd) expect((await driver.getContent(p)).toString()).toBe(p);
      });
    });

    describe('reader', () => {
      const content = bytes('0123456789abcdefghijklmnopqrstuvwxyz');

      beforeEach(async () => {
        await driver.putContent('/r/obj', content);
      });

      it('reads everything from offset 0 (and by default)', async () => {
        expect((await readAll(await driver.reader('/r/obj'))).equals(content)).toBe(true);
        expect((await readAll(await driver.reader('/r/obj', 0))).equals(content)).toBe(true);
      });

      it('reads the rest from a middle offset', async () => {
        for (const offset of [1, 10, content.length - 1]) {
          const got = await readAll(await driver.reader('/r/obj', offset));
          expect(got.equals(content.subarray(offset)), `offset ${offset}`).toBe(true);
        }
      });

      it('reads nothing at offset == size', async () => {
        expect((await readAll(await driver.reader('/r/obj', content.length))).length).toBe(0);
      });

      it('throws InvalidOffsetError past the end or before the start, before streaming', async () => {
        await expectStorageError(driver.reader('/r/obj', content.length + 1), InvalidOffsetError, '/r/obj');
        await expectStorageError(driver.reader('/r/obj', content.length + 10 * MiB), InvalidOffsetError, '/r/obj');
        await expectStorageError(driver.reader('/r/obj', -1), InvalidOffsetError, '/r/obj');
      });

      it('handles an empty object', async () => {
        await driver.putContent('/r/empty', Buffer.alloc(0));
        expect((await readAll(await driver.reader('/r/empty'))).length).toBe(0);
        expect((await readAll(await driver.reader('/r/empty', 0))).length).toBe(0);
        await expectStorageError(driver.reader('/r/empty', 1), InvalidOffsetError, '/r/empty');
      });

      it('streams several readers of one object independently', async () => {
        const [a, b, c] = await Promise.all([
          driver.reader('/r/obj'),
          driver.reader('/r/obj', 5),
          driver.reader('/r/obj', 30),
        ]);
        if (!a || !b || !c) throw new Error('missing reader');
        const [ga, gb, gc] = await Promise.all([readAll(a), readAll(b), readAll(c)]);
        expect(ga.equals(content)).toBe(true);
        expect(gb.equals(content.subarray(5))).toBe(true);
        expect(gc.equals(content.subarray(30))).toBe(true);
      });
    });

    describe('writer', () => {
      it('streams several MiB through pipeline, then commits', async () => {
        const total = 6 * MiB + 123;
        const seed = 0x5eed;
        const w = await driver.writer('/stream/big/data');
        expect(w.size()).toBe(0);
        await pipeline(pseudoRandom(total, seed), w.stream);
        expect(w.size()).toBe(total);
        await w.commit();
        expect(w.size()).toBe(total);

        const expected = expectedDigest(total, seed);
        const info = await driver.stat('/stream/big/data');
        expect(info.size).toBe(total);
        expect(info.isDir).toBe(false);
        expect(await digestOf(await driver.reader('/stream/big/data'))).toEqual(expected);
        expect(sha256(await driver.getContent('/stream/big/data'))).toBe(expected.sha256);

        const offset = 3 * MiB + 17;
        expect(await digestOf(await driver.reader('/stream/big/data', offset))).toEqual(
          expectedDigest(total, seed, offset),
        );
        expect(await digestOf(await driver.reader('/stream/big/data', total))).toEqual(
          expectedDigest(total, seed, total),
        );
        await expectStorageError(driver.reader('/stream/big/data', total + 1), InvalidOffsetError);
      });

      it('size() counts bytes as each write is accepted', async () => {
        const w = await driver.writer('/w/counting');
        let written = 0;
        for (const n of [1, 100, 65_536, 3, 300_000]) {
          await writeChunk(w.stream, binary(n, n));
          written += n;
          expect(w.size()).toBe(written);
        }
        await w.commit();
        expect(w.size()).toBe(written);
        expect((await driver.stat('/w/counting')).size).toBe(written);
      });

      it('commits an empty object', async () => {
        const w = await driver.writer('/w/empty');
        await w.commit();
        expect(w.size()).toBe(0);
        expect((await driver.getContent('/w/empty')).length).toBe(0);
        expect((await driver.stat('/w/empty')).size).toBe(0);
      });

      it('commit ends the stream itself when the caller has not', async () => {
        const w = await driver.writer('/w/unended');
        await writeChunk(w.stream, bytes('abc'));
        w.stream.write(bytes('def'));
        await w.commit();
        expect((await driver.getContent('/w/unended')).toString()).toBe('abcdef');
        expect(w.size()).toBe(6);
      });

      it('appends: write, close, reopen with append, write more, commit', async () => {
        const w1 = await driver.writer('/append/obj');
        await pipeline([bytes('hello, ')], w1.stream);
        expect(w1.size()).toBe(7);
        await w1.close();

        const w2 = await driver.writer('/append/obj', { append: true });
        expect(w2.size()).toBe(7);
        await pipeline([bytes('wharf'), bytes('!')], w2.stream);
        expect(w2.size()).toBe(13);
        await w2.commit();
        expect(w2.size()).toBe(13);

        expect((await driver.getContent('/append/obj')).toString()).toBe('hello, wharf!');
        expect((await driver.stat('/append/obj')).size).toBe(13);
      });

      it('appends across several sessions of uneven, multi-MiB chunks', async () => {
        const total = 5 * MiB + 4321;
        const seed = 42;
        const chunks = [...pseudoRandom(total, seed)];
        const cuts = [0, 2, 5, chunks.length];
        let written = 0;
        for (let s = 0; s + 1 < cuts.length; s++) {
          const w = await driver.writer('/append/big', s === 0 ? {} : { append: true });
          expect(w.size()).toBe(written);
          const part = chunks.slice(cuts[s], cuts[s + 1]);
          await pipeline(part, w.stream);
          written += part.reduce((n, c) => n + c.length, 0);
          expect(w.size()).toBe(written);
          if (s + 2 < cuts.length) await w.close();
          else await w.commit();
        }
        expect(written).toBe(total);
        expect((await driver.stat('/append/big')).size).toBe(total);
        expect(await digestOf(await driver.reader('/append/big'))).toEqual(expectedDigest(total, seed));
      });

      it('without append, truncates an existing object', async () => {
        await driver.putContent('/trunc/obj', bytes('a long original content that must disappear'));
        const w = await driver.writer('/trunc/obj');
        expect(w.size()).toBe(0);
        await pipeline([bytes('new')], w.stream);
        await w.commit();
        expect(w.size()).toBe(3);
        expect((await driver.getContent('/trunc/obj')).toString()).toBe('new');
        expect((await driver.stat('/trunc/obj')).size).toBe(3);
      });

      it('cancel() removes the object', async () => {
        const w = await driver.writer('/cancel/obj');
        await writeChunk(w.stream, binary(100_000));
        await w.cancel();
        await expectStorageError(driver.stat('/cancel/obj'), PathNotFoundError);
        await expectStorageError(driver.getContent('/cancel/obj'), PathNotFoundError);
        await expectStorageError(driver.reader('/cancel/obj'), PathNotFoundError);
      });

      it('cancel() with nothing written removes the object', async () => {
        const w = await driver.writer('/cancel/nothing');
        await w.cancel();
        await expectStorageError(driver.stat('/cancel/nothing'), PathNotFoundError);
      });

      it('cancel() after close and an appending reopen removes the whole object', async () => {
        const w1 = await driver.writer('/cancel/appended');
        await pipeline([bytes('first part')], w1.stream);
        await w1.close();
        const w2 = await driver.writer('/cancel/appended', { append: true });
        await writeChunk(w2.stream, bytes(' second part'));
        await w2.cancel();
        await expectStorageError(driver.stat('/cancel/appended'), PathNotFoundError);
        await expectStorageError(driver.getContent('/cancel/appended'), PathNotFoundError);
      });

      it('cancel() leaves other objects in the same directory alone', async () => {
        await driver.putContent('/cancel/dir/keep', bytes('keep'));
        const w = await driver.writer('/cancel/dir/drop');
        await writeChunk(w.stream, bytes('drop'));
        await w.cancel();
        expect(await driver.list('/cancel/dir')).toEqual(['/cancel/dir/keep']);
        expect((await driver.getContent('/cancel/dir/keep')).toString()).toBe('keep');
      });

      it('append to a path that does not exist yet starts an empty object', async () => {
        const w = await driver.writer('/append/fresh/data', { append: true });
        expect(w.size()).toBe(0);
        await pipeline([bytes('first')], w.stream);
        expect(w.size()).toBe(5);
        await w.commit();
        expect((await driver.getContent('/append/fresh/data')).toString()).toBe('first');
      });

      it('bytes are visible after close(), before any commit', async () => {
        const w = await driver.writer('/append/closed/data', { append: true });
        await pipeline([bytes('0123456789')], w.stream);
        await w.close();
        expect((await driver.stat('/append/closed/data')).size).toBe(10);
        expect((await readAll(await driver.reader('/append/closed/data', 4))).toString()).toBe('456789');
        expect((await driver.getContent('/append/closed/data')).toString()).toBe('0123456789');
      });

      it('append after a commit continues the object', async () => {
        const w1 = await driver.writer('/append/committed');
        await pipeline([bytes('one,')], w1.stream);
        await w1.commit();
        const w2 = await driver.writer('/append/committed', { append: true });
        expect(w2.size()).toBe(4);
        await pipeline([bytes('two')], w2.stream);
        await w2.commit();
        expect(w2.size()).toBe(7);
        expect((await driver.getContent('/append/committed')).toString()).toBe('one,two');
      });

      it('an appending writer committed with nothing written leaves the object as it was', async () => {
        await driver.putContent('/append/untouched', bytes('as it was'));
        const w = await driver.writer('/append/untouched', { append: true });
        expect(w.size()).toBe(9);
        await w.commit();
        expect(w.size()).toBe(9);
        expect((await driver.getContent('/append/untouched')).toString()).toBe('as it was');
      });

      it('a stream that fails mid-write leaves a consistent prefix that can be appended to', async () => {
        const base = binary(1000, 1);
        const w1 = await driver.writer('/abort/data');
        await pipeline([base], w1.stream);
        await w1.close();

        const sent = binary(300_000, 2);
        async function* failing(): AsyncGenerator<Buffer> {
          yield sent.subarray(0, 100_000);
          await nextTurn();
          yield sent.subarray(100_000);
          throw new Error('client went away');
        }
        const w2 = await driver.writer('/abort/data', { append: true });
        await expect(pipeline(failing(), w2.stream)).rejects.toThrow('client went away');
        await w2.close().catch(() => {}); // may reject: the stream failed

        const kept = await driver.getContent('/abort/data');
        expect((await driver.stat('/abort/data')).size).toBe(kept.length);
        expect(kept.length).toBeGreaterThanOrEqual(base.length);
        expect(
          kept.equals(Buffer.concat([base, sent]).subarray(0, kept.length)),
          'not a prefix of what was written',
        ).toBe(true);

        const w3 = await driver.writer('/abort/data', { append: true });
        expect(w3.size()).toBe(kept.length);
        await pipeline([bytes('resumed')], w3.stream);
        await w3.commit();
        expect((await driver.getContent('/abort/data')).equals(Buffer.concat([kept, bytes('resumed')]))).toBe(true);
      });

      it('cancel() after the stream failed still removes the object', async () => {
        async function* failing(): AsyncGenerator<Buffer> {
          yield binary(50_000);
          throw new Error('client went away');
        }
        const w = await driver.writer('/abort/cancelled');
        await expect(pipeline(failing(), w.stream)).rejects.toThrow('client went away');
        await w.cancel();
        await expectStorageError(driver.stat('/abort/cancelled'), PathNotFoundError);
      });

      it('concurrent writers to different paths do not mix', async () => {
        const n = 5;
        const chunk = 16 * 1024;
        const rounds = 48;
        const writers = await Promise.all(Array.from({ length: n }, (_, i) => driver.writer(`/concurrent/${i}/data`)));
        async function* fill(i: number): AsyncGenerator<Buffer> {
          for (let r = 0; r < rounds; r++) {
            yield Buffer.alloc(chunk + i, 0x41 + i);
            await nextTurn();
          }
        }
        await Promise.all(writers.map((w, i) => pipeline(fill(i), w.stream)));
        await Promise.all(writers.map((w) => w.commit()));
        for (let i = 0; i < n; i++) {
          expect(writers[i]?.size()).toBe(rounds * (chunk + i));
          const got = await driver.getContent(`/concurrent/${i}/data`);
          expect(got.length).toBe(rounds * (chunk + i));
          expect(
            got.every((b) => b === 0x41 + i),
            `writer ${i} got foreign bytes`,
          ).toBe(true);
        }
        expect(await driver.list('/concurrent')).toEqual(Array.from({ length: n }, (_, i) => `/concurrent/${i}`));
      });

      it('interleaved writes by hand to different paths do not mix', async () => {
        const a = await driver.writer('/interleave/a');
        const b = await driver.writer('/interleave/b');
        for (let i = 0; i < 20; i++) {
          await writeChunk(a.stream, bytes(`a${i};`));
          await writeChunk(b.stream, bytes(`b${i};`));
        }
        await Promise.all([a.commit(), b.commit()]);
        const expectA = Array.from({ length: 20 }, (_, i) => `a${i};`).join('');
        const expectB = Array.from({ length: 20 }, (_, i) => `b${i};`).join('');
        expect((await driver.getContent('/interleave/a')).toString()).toBe(expectA);
        expect((await driver.getContent('/interleave/b')).toString()).toBe(expectB);
      });
    });

    describe('stat', () => {
      it('describes an object', async () => {
        const before = Date.now();
        await driver.putContent('/s/dir/obj', binary(1234));
        const info = await driver.stat('/s/dir/obj');
        expect(info.path).toBe('/s/dir/obj');
        expect(info.size).toBe(1234);
        expect(info.isDir).toBe(false);
        expect(info.modTime).toBeInstanceOf(Date);
        expect(Number.isNaN(info.modTime.getTime())).toBe(false);
        // Loose: remote stores have coarse timestamps and clock skew.
        expect(Math.abs(info.modTime.getTime() - before)).toBeLessThan(10 * 60_000);
      });

      it('follows overwrites', async () => {
        await driver.putContent('/s/obj', binary(10));
        expect((await driver.stat('/s/obj')).size).toBe(10);
        await driver.putContent('/s/obj', binary(99_999));
        expect((await driver.stat('/s/obj')).size).toBe(99_999);
      });

      it('describes a directory, at every level, and the root', async () => {
        await driver.putContent('/s/a/b/obj', bytes('x'));
        for (const dir of ['/s', '/s/a', '/s/a/b']) {
          const info = await driver.stat(dir);
          expect(info.path).toBe(dir);
          expect(info.isDir, dir).toBe(true);
        }
        expect((await driver.stat('/')).isDir).toBe(true);
      });
    });

    describe('list', () => {
      it('lists an empty driver’s root as empty', async () => {
        expect(await driver.list('/')).toEqual([]);
      });

      it('returns direct children as full paths, sorted, each directory once', async () => {
        const objects = [
          '/l/b/c',
          '/l/b/d',
          '/l/e',
          '/l/f/g/h',
          '/l/f/g/i',
          '/l/f/j',
          '/l/B',
          '/l/9',
          '/l/10',
          '/l/_u',
          '/l/-d',
          '/l/.dot',
          '/l/b.txt',
          '/z',
        ];
        // Written in a scrambled order (neither sorted nor reversed), so that no driver
        // passes by insertion order or by a directory that happens to return names sorted.
        for (let i = 0; i < objects.length; i++) {
          const p = objects[(i * 5 + 3) % objects.length] ?? '';
          await driver.putContent(p, bytes(p));
        }

        const children = ['/l/b', '/l/e', '/l/f', '/l/B', '/l/9', '/l/10', '/l/_u', '/l/-d', '/l/.dot', '/l/b.txt'];
        expect(await driver.list('/l')).toEqual([...children].sort());
        expect(await driver.list('/')).toEqual(['/l', '/z']);
        expect(await driver.list('/l/b')).toEqual(['/l/b/c', '/l/b/d']);
        expect(await driver.list('/l/f')).toEqual(['/l/f/g', '/l/f/j']);
        expect(await driver.list('/l/f/g')).toEqual(['/l/f/g/h', '/l/f/g/i']);
      });

      it('does not confuse a directory with a sibling that shares its prefix', async () => {
        await driver.putContent('/p/ab/x', bytes('1'));
        await driver.putContent('/p/a/y', bytes('2'));
        await driver.putContent('/p/a.b', bytes('3'));
        expect(await driver.list('/p/a')).toEqual(['/p/a/y']);
        expect(await driver.list('/p')).toEqual(['/p/a', '/p/a.b', '/p/ab']);
      });

      it('shows objects written through writer() once committed', async () => {
        const w = await driver.writer('/lw/obj');
        await pipeline([bytes('x')], w.stream);
        await w.commit();
        expect(await driver.list('/lw')).toEqual(['/lw/obj']);
      });

      it('throws PathNotFoundError for a missing directory', async () => {
        await driver.putContent('/exists/obj', bytes('x'));
        await expectStorageError(driver.list('/nope'), PathNotFoundError, '/nope');
        await expectStorageError(driver.list('/exists/nope'), PathNotFoundError, '/exists/nope');
      });
    });

    describe('move', () => {
      it('moves an object to a new path, creating its directories, and removes the source', async () => {
        const data = binary(70_000, 7);
        await driver.putContent('/mv/src/obj', data);
        await driver.move('/mv/src/obj', '/mv/new/deeper/dest');
        expect((await driver.getContent('/mv/new/deeper/dest')).equals(data)).toBe(true);
        expect((await driver.stat('/mv/new/deeper/dest')).size).toBe(data.length);
        await expectStorageError(driver.getContent('/mv/src/obj'), PathNotFoundError);
        await expectStorageError(driver.stat('/mv/src/obj'), PathNotFoundError);
      });

      it('replaces an existing destination', async () => {
        await driver.putContent('/mv/a', bytes('source content'));
        await driver.putContent('/mv/b', bytes('a longer destination content to be replaced'));
        await driver.move('/mv/a', '/mv/b');
        expect((await driver.getContent('/mv/b')).toString()).toBe('source content');
        expect((await driver.stat('/mv/b')).size).toBe('source content'.length);
        await expectStorageError(driver.getContent('/mv/a'), PathNotFoundError);
        expect(await driver.list('/mv')).toEqual(['/mv/b']);
      });

      it('moves an object written through writer()', async () => {
        const total = 2 * MiB + 1;
        const w = await driver.writer('/uploads/u1/data');
        await pipeline(pseudoRandom(total, 9), w.stream);
        await w.commit();
        await driver.move('/uploads/u1/data', '/blobs/sha256/ab/abcdef/data');
        expect(await digestOf(await driver.reader('/blobs/sha256/ab/abcdef/data'))).toEqual(expectedDigest(total, 9));
        await expectStorageError(driver.stat('/uploads/u1/data'), PathNotFoundError);
      });
    });

    describe('delete', () => {
      it('deletes an object and leaves its siblings', async () => {
        await driver.putContent('/d/obj', bytes('x'));
        await driver.putContent('/d/obj2', bytes('y'));
        await driver.delete('/d/obj');
        await expectStorageError(driver.getContent('/d/obj'), PathNotFoundError);
        await expectStorageError(driver.stat('/d/obj'), PathNotFoundError);
        await expectStorageError(driver.delete('/d/obj'), PathNotFoundError, '/d/obj');
        expect(await driver.list('/d')).toEqual(['/d/obj2']);
      });

      it('deletes a directory and everything below it, and nothing beside it', async () => {
        const below = ['/d/tree/a', '/d/tree/b/c', '/d/tree/b/d/e', '/d/tree/f/g'];
        const beside = ['/d/tree2/a', '/d/tree.x', '/d/treeish/b', '/d/other/tree/a', '/tree/a'];
        for (const p of [...below, ...beside]) await driver.putContent(p, bytes(p));
        await driver.delete('/d/tree');
        for (const p of below) {
          await expectStorageError(driver.getContent(p), PathNotFoundError, p);
          await expectStorageError(driver.stat(p), PathNotFoundError, p);
        }
        for (const dir of ['/d/tree', '/d/tree/b', '/d/tree/b/d']) {
          await expectStorageError(driver.stat(dir), PathNotFoundError, dir);
          await expectStorageError(driver.list(dir), PathNotFoundError, dir);
        }
        for (const p of beside) expect((await driver.getContent(p)).toString()).toBe(p);
        expect(await driver.list('/d')).toEqual(['/d/other', '/d/tree.x', '/d/tree2', '/d/treeish']);
      });

      it('a deleted path can be written again', async () => {
        await driver.putContent('/d/again/obj', bytes('one'));
        await driver.delete('/d/again');
        await driver.putContent('/d/again/obj', bytes('two'));
        expect((await driver.getContent('/d/again/obj')).toString()).toBe('two');
      });
    });
  });
}
