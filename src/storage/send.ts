import type { Writable } from 'node:stream';

/**
 * Writes `chunk` into `dest` and resolves once `dest` has flushed it (its write callback), so
 * that the caller may reuse the buffer. Rejects when `dest` fails or is closed first (a client
 * that went away).
 */
export function writeAndFlush(dest: Writable, chunk: Buffer): Promise<void> {
  if (dest.destroyed) return Promise.reject(new Error('destination closed'));
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('destination closed'));
    dest.once('close', onClose);
    dest.write(chunk, (err) => {
      dest.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

/** A byte range of an object: `length` bytes from `offset`. */
export interface ByteSpan {
  offset: number;
  length: number;
}
