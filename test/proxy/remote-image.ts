// Test images pushed into a real remote registry by skopeo (from an OCI layout), and pulled
// back over HTTP the way a client does: manifest, then every blob, each checked against its digest.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, writeBlob } from '../support/oci-layout.js';
import { skopeoOk } from '../support/skopeo.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

export interface RemoteImage {
  manifestDigest: string;
  /** Config and layer digests. */
  blobs: string[];
}

/** Pushes an image of random layers (sizes in bytes) to `host/repo:tag` with skopeo. */
export async function pushRandomImage(
  host: string,
  repo: string,
  tag: string,
  layerSizes: number[],
  creds?: string,
): Promise<RemoteImage> {
  const dir = await tmpDir('wharf-proxy-image');
  try {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const layers = [];
    for (const size of layerSizes) // Really gzip'd (level 0: stored, so the size stays what was asked), or skopeo would compress it.
      layers.push(await writeBlob(dir, OCI_LAYER_GZIP, gzipSync(randomBytes(size), { level: 0 })));
    const config = await writeBlob(
      dir,
      OCI_CONFIG,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        }),
      ),
    );
    const manifest = await writeBlob(
      dir,
      OCI_MANIFEST,
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers })),
    );
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
      }),
    );
    await skopeoOk([
      'copy',
      '--dest-tls-verify=false',
      ...(creds ? ['--dest-creds', creds] : []),
      `oci:${dir}:${tag}`,
      `docker://${host}/${repo}:${tag}`,
    ]);
    return { manifestDigest: manifest.digest, blobs: [config.digest, ...layers.map((l) => l.digest)] };
  } finally {
    await removeTmpDir(dir);
  }
}

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** GETs the manifest by tag, then every blob it names; throws on any error or wrong digest. */
export async function pullOverHttp(base: string, repo: string, ref: string): Promise<RemoteImage> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`manifest ${repo}:${ref}: ${res.status} ${bytes.toString()}`);
  const manifest = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const blobs = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  await Promise.all(blobs.map((d) => getBlob(base, repo, d)));
  return { manifestDigest: sha256(bytes), blobs };
}

export async function getBlob(base: string, repo: string, digest: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`blob ${digest}: ${res.status} ${bytes.toString().slice(0, 200)}`);
  if (sha256(bytes) !== digest) throw new Error(`blob ${digest} arrived as ${sha256(bytes)}`);
}
