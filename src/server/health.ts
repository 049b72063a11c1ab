import { statfs } from 'node:fs/promises';

/** Free space of the data directory's volume (blobs, uploads and the metadata database). */
export interface StorageSpace {
  freeBytes: number;
  sizeBytes: number;
  /** Below the low-space mark: writes may soon fail (or are failing) with "storage is full". */
  low: boolean;
}

/** Free space below 5 % of the volume or below 256 MiB, whichever is smaller, is low. */
const LOW_FRACTION = 0.05;
const LOW_BYTES = 256 * 1024 * 1024;

/** statfs of `root`: what an unprivileged writer may still use (bavail), as df shows it. */
export async function storageSpace(root: string): Promise<StorageSpace> {
  const fs = await statfs(root);
  const freeBytes = fs.bavail * fs.bsize;
  const sizeBytes = fs.blocks * fs.bsize;
  return { freeBytes, sizeBytes, low: freeBytes < Math.min(sizeBytes * LOW_FRACTION, LOW_BYTES) };
}

/** The storage gauges in Prometheus' text format. */
export function renderStorageMetrics(space: StorageSpace): string {
  return [
    '# HELP wharf_storage_free_bytes Bytes free on the data directory volume.',
    '# TYPE wharf_storage_free_bytes gauge',
    `wharf_storage_free_bytes ${space.freeBytes}`,
    '# HELP wharf_storage_size_bytes Size of the data directory volume.',
    '# TYPE wharf_storage_size_bytes gauge',
    `wharf_storage_size_bytes ${space.sizeBytes}`,
    '# HELP wharf_storage_low 1 when free space is below min(5 % of the volume, 256 MiB).',
    '# TYPE wharf_storage_low gauge',
    `wharf_storage_low ${space.low ? 1 : 0}`,
    '',
  ].join('\n');
}
