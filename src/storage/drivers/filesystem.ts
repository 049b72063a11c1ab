import { randomUUID } from 'node:crypto';
import { close as closeFd, createWriteStream, fstat, fsync, open as openFd } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import {
  checkPath,
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
} from '../driver.js';
import { type ByteSpan, writeAndFlush } from '../send.js';

/** Large read buffers: a 64 KiB stream reaches a third of the disk's speed, 1–4 MiB gets close. */
const READ_BUFFER = 2 * 1024 * 1024;

/** Marks temp files; `#` cannot appear in a valid path, so no object is ever mistaken for one. */
const TEMP_MARK = '#tmp-';

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Stores objects as files under a root directory. Small objects are written to a temp file and renamed. */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';

  constructor(readonly root: string) {}

  private full(path: string, allowRoot = false): string {
    checkPath(path, allowRoot);
    return join(this.root, path);
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.full(path));
    } catch (err) {
      // A directory is not an object (reader() and the other drivers agree).
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') throw new PathNotFoundError(path);
      throw err;
    }
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    const target = this.full(path);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}${TEMP_MARK}${randomUUID()}`;
    try {
      const fh = await open(temp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    // Opened here, not lazily by the stream: a file deleted meanwhile (GC) is a PathNotFoundError
    // to the caller, never a raw ENOENT from the stream later.
    let fh: FileHandle;
    try {
      fh = await open(this.full(path), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
    const info = await fh.stat();
    if (info.isDirectory() || offset < 0 || offset > info.size) {
      await fh.close();
      if (info.isDirectory()) throw new PathNotFoundError(path);
      throw new InvalidOffsetError(path, offset);
    }
    return fh.createReadStream({ start: offset, highWaterMark: READ_BUFFER });
  }

  async sendTo(path: string, dest: Writable, span?: ByteSpan): Promise<void> {
    const file = this.full(path);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') throw new PathNotFoundError(path);
      throw err;
    }
    try {
      const info = await fh.stat();
      if (info.isDirectory()) throw new PathNotFoundError(path);
      const offset = span?.offset ?? 0;
      const end = span ? offset + span.length : info.size;
      if (offset < 0 || offset > info.size || end > info.size) throw new InvalidOffsetError(path, offset);
      // Two buffers, reused: reading into one while the socket drains the other avoids
      // allocating (and page-faulting) fresh memory for every chunk, about 30% faster.
      const buffers = [Buffer.allocUnsafeSlow(READ_BUFFER), Buffer.allocUnsafeSlow(READ_BUFFER)];
      const flushed: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
      let position = offset;
      for (let i = 0; position < end; i ^= 1) {
        await flushed[i];
        const buffer = buffers[i] as Buffer;
        const { bytesRead } = await fh.read(buffer, 0, Math.min(READ_BUFFER, end - position), position);
        if (bytesRead === 0) throw new InvalidOffsetError(path, position);
        position += bytesRead;
        flushed[i] = writeAndFlush(dest, buffer.subarray(0, bytesRead));
        flushed[i]?.catch(() => {});
      }
      await Promise.all(flushed);
    } finally {
      await fh.close();
    }
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    const file = this.full(path);
    await mkdir(dirname(file), { recursive: true });
    // A plain fd, not a FileHandle: a FileHandle's close() waits for streams that never close.
    const fd = await promisify(openFd)(file, options.append ? 'a' : 'w');
    const initial = options.append ? (await promisify(fstat)(fd)).size : 0;
    const stream = createWriteStream('', { fd, autoClose: false, highWaterMark: 1024 * 1024 });
    // A lasting error listener: a stream that failed (e.g. its pipeline was cut by a client that
    // went away) may emit more errors, and an unheard one would bring the whole process down.
    let failure: Error | undefined;
    stream.on('error', (err) => {
      failure ??= err;
    });
    // A destroyed stream closes the fd itself, even with autoClose off. Closing it again could
    // close whatever file got the same number since (SQLite's!), so after a destroy we only wait.
    const released = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    const flushed = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
      // Destroyed without an error (and so without 'finish'): never leave a caller waiting.
      stream.once('close', () => reject(failure ?? new Error(`writing ${path} was interrupted`)));
    });
    flushed.catch(() => {});
    let closed = false;
    const finish = async (sync: boolean) => {
      if (closed) return;
      closed = true;
      if (stream.destroyed) {
        await released;
        throw failure ?? new Error(`writing ${path} was interrupted`);
      }
      try {
        if (!stream.writableEnded) stream.end();
        await flushed;
        if (sync) await promisify(fsync)(fd);
      } finally {
        if (stream.destroyed) await released;
        else await promisify(closeFd)(fd);
      }
    };
    return {
      stream,
      size: () => initial + stream.bytesWritten,
      commit: () => finish(true),
      close: () => finish(false),
      cancel: async () => {
        if (!closed) {
          closed = true;
          if (!stream.destroyed) stream.destroy();
          await released;
        }
        await rm(file, { force: true });
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const info = await stat(this.full(path, true));
      return { path, size: info.isDirectory() ? 0 : info.size, modTime: info.mtime, isDir: info.isDirectory() };
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      const names = await readdir(this.full(path, true));
      const prefix = path === '/' ? '' : path;
      return names
        .filter((n) => !n.includes(TEMP_MARK))
        .sort()
        .map((n) => `${prefix}/${n}`);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  async move(source: string, dest: string): Promise<void> {
    const from = this.full(source);
    const to = this.full(dest);
    await mkdir(dirname(to), { recursive: true });
    try {
      await rename(from, to);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(source);
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    const file = this.full(path);
    try {
      await stat(file);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
    await rm(file, { recursive: true, force: true });
  }
}
