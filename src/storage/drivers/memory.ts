import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  checkPath,
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
} from '../driver.js';
import { type ByteSpan, writeAndFlush } from '../send.js';

interface MemoryObject {
  chunks: Buffer[];
  size: number;
  modTime: Date;
}

/** Keeps objects in memory: for tests and throw-away servers. Directories exist implicitly. */
export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  private readonly objects = new Map<string, MemoryObject>();

  private object(path: string): MemoryObject {
    checkPath(path);
    const obj = this.objects.get(path);
    if (!obj) throw new PathNotFoundError(path);
    return obj;
  }

  private isDir(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const key of this.objects.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.concat(this.object(path).chunks);
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    checkPath(path);
    this.objects.set(path, { chunks: [Buffer.from(data)], size: data.byteLength, modTime: new Date() });
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const obj = this.object(path);
    if (offset < 0 || offset > obj.size) throw new InvalidOffsetError(path, offset);
    const data = Buffer.concat(obj.chunks).subarray(offset);
    const step = 1024 * 1024;
    return Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += step) yield data.subarray(i, i + step);
      })(),
    );
  }

  async sendTo(path: string, dest: Writable, span?: ByteSpan): Promise<void> {
    const obj = this.object(path);
    const offset = span?.offset ?? 0;
    const end = span ? offset + span.length : obj.size;
    if (offset < 0 || offset > obj.size || end > obj.size) throw new InvalidOffsetError(path, offset);
    const data = Buffer.concat(obj.chunks).subarray(offset, end);
    const step = 1024 * 1024;
    for (let i = 0; i < data.length; i += step) await writeAndFlush(dest, data.subarray(i, i + step));
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    checkPath(path);
    const existing = this.objects.get(path);
    const obj: MemoryObject = options.append && existing ? existing : { chunks: [], size: 0, modTime: new Date() };
    this.objects.set(path, obj);
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        obj.chunks.push(Buffer.from(chunk));
        obj.size += chunk.length;
        obj.modTime = new Date();
        cb();
      },
    });
    const finish = async () => {
      if (!stream.writableEnded) stream.end();
      await finished(stream);
    };
    return {
      stream,
      size: () => obj.size,
      commit: finish,
      close: finish,
      cancel: async () => {
        stream.destroy();
        if (this.objects.get(path) === obj) this.objects.delete(path);
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    checkPath(path, true);
    const obj = this.objects.get(path);
    if (obj) return { path, size: obj.size, modTime: obj.modTime, isDir: false };
    if (path === '/' || this.isDir(path)) return { path, size: 0, modTime: new Date(), isDir: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    checkPath(path, true);
    const prefix = path === '/' ? '/' : `${path}/`;
    const children = new Set<string>();
    for (const key of this.objects.keys()) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length).split('/')[0];
      if (name) children.add(`${prefix}${name}`);
    }
    if (children.size === 0 && path !== '/') throw new PathNotFoundError(path);
    return [...children].sort();
  }

  async move(source: string, dest: string): Promise<void> {
    checkPath(dest); // before the lookup: an invalid dest is InvalidPathError even when source is missing
    const obj = this.object(source);
    this.objects.delete(source);
    this.objects.set(dest, obj);
  }

  async delete(path: string): Promise<void> {
    checkPath(path);
    let found = this.objects.delete(path);
    const prefix = `${path}/`;
    for (const key of [...this.objects.keys()]) {
      if (key.startsWith(prefix)) {
        this.objects.delete(key);
        found = true;
      }
    }
    if (!found) throw new PathNotFoundError(path);
  }
}
