// Stream pieces of blob transfers: reading a source in exact lengths (PATCH chunks) without
// holding more than one of its chunks, and writing into a caller's writable with backpressure.
import type { Readable, Writable } from 'node:stream';
import { RegistryClientError } from './errors.js';

export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new RegistryClientError('blob source yielded something other than bytes');
}

/** Reads a byte stream in pieces of a given length, without holding more than one chunk of it. */
export class ByteReader {
  private pending: Buffer | undefined;
  private readonly it: AsyncIterator<unknown>;
  /** Bytes handed out so far. */
  private consumed = 0;

  constructor(
    source: Readable,
    /** The size the content should have, for error messages. */
    private readonly size: number,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** The next `n` bytes; fails if the stream ends first. */
  async *take(n: number, onBytes?: (count: number) => void): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      let buf = this.pending;
      this.pending = undefined;
      if (!buf) {
        const r = await this.it.next();
        if (r.done) throw new RegistryClientError(`blob content ended after ${this.consumed} of ${this.size} bytes`);
        buf = toBuffer(r.value);
      }
      if (buf.length > left) {
        this.pending = buf.subarray(left);
        buf = buf.subarray(0, left);
      }
      left -= buf.length;
      this.consumed += buf.length;
      if (buf.length > 0) {
        onBytes?.(buf.length);
        yield buf;
      }
    }
  }

  /** True when the stream has no more bytes. */
  async atEnd(): Promise<boolean> {
    if (this.pending && this.pending.length > 0) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) return true;
      const buf = toBuffer(r.value);
      if (buf.length > 0) {
        this.pending = buf;
        return false;
      }
    }
  }
}

/** Marks a failure of the caller's writable, which must not be retried like a broken download. */
export class DestinationError extends Error {}

/** Resolves when `w` drains; rejects when it fails or closes first. */
export function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      w.off('drain', onDrain);
      w.off('error', onError);
      w.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new DestinationError(err.message, { cause: err }));
    };
    const onClose = () => {
      cleanup();
      reject(new DestinationError('destination closed before the blob was written'));
    };
    w.on('drain', onDrain);
    w.on('error', onError);
    w.on('close', onClose);
  });
}

/** Ends `w` and resolves once everything is flushed. */
export function endWritable(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      w.off('finish', onFinish);
      reject(new DestinationError(err.message, { cause: err }));
    };
    const onFinish = () => {
      w.off('error', onError);
      resolve();
    };
    w.once('error', onError);
    w.once('finish', onFinish);
    w.end();
  });
}
