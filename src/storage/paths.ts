import type { Digest } from '../oci/digest.js';

/**
 * The one place that maps things to storage paths. The layout:
 *
 *   /
 *   ├── blobs/                         content-addressed, shared by every repository
 *   │   └── <algorithm>/<hh>/<hex>/data  hh = first two hex digits (fan-out)
 *   └── uploads/
 *       └── <uuid>/data                 bytes of an upload session in progress
 *
 * Everything else (repositories, tags, manifests, which blob is linked into which
 * repository, upload sessions) lives in the metadata database, never in storage.
 */
export const paths = {
  blob(digest: Digest): string {
    return `/blobs/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}/data`;
  },
  blobDir(digest: Digest): string {
    return `/blobs/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}`;
  },
  uploadData(uuid: string): string {
    return `/uploads/${uuid}/data`;
  },
  uploadDir(uuid: string): string {
    return `/uploads/${uuid}`;
  },
};
