// Benchmark data. The big blobs come from the same generator as the streaming tests.
import { createHash } from 'node:crypto';

import { prngBytes } from '../test/support/generated-blob.js';

export { blobDigest, blobStream } from '../test/support/generated-blob.js';

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A real (tiny) ustar archive with one file, so the layer is a valid tar if anyone looks. */
export function tinyTar(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number): void => {
    header.write(value.slice(0, length), offset, length, 'latin1');
  };
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, '0')}\0`;
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(content.length, 12), 124, 12);
  field(octal(0, 12), 136, 12);
  field('        ', 148, 8); // checksum is computed with this field as spaces
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const b of header) sum += b;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

export interface TinyImage {
  layer: Buffer;
  layerDigest: string;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/** A minimal but valid OCI image (one ~1 KiB-content tar layer); `n` makes it unique. */
export function tinyImage(n: number): TinyImage {
  const layer = tinyTar(`file-${n}.bin`, prngBytes(n + 1, 1024));
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date(Date.UTC(2024, 0, 1, 0, 0, n % 60)).toISOString(),
      config: { Env: [`BENCH_IMAGE=${n}`] },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created_by: `bench image ${n}` }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  return { layer, layerDigest, config, configDigest, manifest, manifestDigest: sha256(manifest) };
}
