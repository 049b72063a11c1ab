// Reading a layer tar without extracting it: its diff ID (sha256 of the tar) and its size as
// Docker's overlay2 driver counts it, with an optional look at every entry header.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { type Header, extract as tarExtract } from 'tar-stream';
import { TarFormatError } from './errors.js';

export interface LayerDiff {
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  /** The unpacked size: file contents plus, for each symlink, the length of its target. */
  diffSize: number;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
}

/**
 * Scans an uncompressed tar stream to its end. `onEntry` sees each header (it may throw to
 * reject the scan). Rejects with TarFormatError when the bytes are not a tar, and with the
 * stream's own error when reading fails.
 */
export function scanLayer(tar: Readable, onEntry?: (header: Header) => void): Promise<LayerDiff> {
  const hash = createHash('sha256');
  let diffSize = 0;
  let tarSize = 0;
  const entries = tarExtract();
  entries.on('entry', (header, body, next) => {
    diffSize += header.size ?? 0;
    if (header.type === 'symlink') diffSize += Buffer.byteLength(header.linkname ?? '');
    try {
      onEntry?.(header);
    } catch (err) {
      refused = err;
      entries.destroy(err as Error);
      return;
    }
    body.on('end', next);
    body.resume();
  });
  let refused: unknown;
  const entriesDone = new Promise<void>((resolve, reject) => {
    entries.on('error', (err) => reject(err === refused ? err : new TarFormatError(err.message, { cause: err })));
    entries.on('finish', resolve);
  });
  entriesDone.catch(() => {});
  // Hashes the tar and feeds it to the tar parser, with backpressure.
  const feeder = new Writable({
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      tarSize += chunk.length;
      if (entries.write(chunk)) done();
      else entries.once('drain', () => done());
    },
    final(done) {
      entries.end(null);
      entriesDone.then(() => done(), done);
    },
  });
  return new Promise<LayerDiff>((resolve, reject) => {
    tar.on('error', reject);
    feeder.on('error', reject);
    feeder.on('finish', () => resolve({ diffId: `sha256:${hash.digest('hex')}`, diffSize, tarSize }));
    tar.pipe(feeder);
  });
}
