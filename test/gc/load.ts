// A bounded push/delete load for the GC stress and crash tests: clients push small generated
// images over HTTP (as docker does: HEAD each blob, upload what is missing, PUT the manifest) and
// delete tags and manifests, reusing a pool of layers so that blobs keep being released and
// referenced again while GC runs. Plus a check that every tagged image pulls byte for byte.
import { createHash } from 'node:crypto';
import { prngBytes } from '../support/generated-blob.js';
import { seededRandom } from '../support/seeded.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** 24 layers of 4–36 KiB, shared by every client: each is released and referenced again many times. */
const POOL = Array.from({ length: 24 }, (_, i) => prngBytes(0x1000 + i, 4096 + ((i * 1371) % 32) * 1024));

export interface LoadStats {
  pushes: number;
  deletes: number;
  /** Manifest PUTs answered MANIFEST_BLOB_UNKNOWN because GC took a blob after the HEAD: pushed again. */
  blobRetries: number;
  errors: string[];
}

export function newStats(): LoadStats {
  return { pushes: 0, deletes: 0, blobRetries: 0, errors: [] };
}

async function putBlob(url: string, repo: string, data: Buffer, skipExisting: boolean): Promise<void> {
  const digest = sha256(data);
  if (skipExisting) {
    const head = await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    if (head.status === 200) return;
  }
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  if (res.status !== 201) throw new Error(`blob upload to ${repo}: ${res.status} ${await res.text()}`);
}

/**
 * One client: until `stop()` says so, pushes images to its repository (keeping at most `keep`
 * tags) and deletes some by tag or by digest. Network errors end the loop (the server was killed).
 */
export async function runClient(
  url: string,
  client: number,
  stop: () => boolean,
  stats: LoadStats,
  options: { seed?: number; keep?: number } = {},
): Promise<void> {
  const random = seededRandom((options.seed ?? 1) * 1000 + client);
  const repo = `stress/c${client}`;
  const keep = options.keep ?? 6;
  const tags: { tag: string; digest: string }[] = [];
  let n = 0;
  try {
    while (!stop()) {
      if (tags.length > 0 && (tags.length >= keep || random() < 0.35)) {
        const victim = tags.splice(Math.floor(random() * tags.length), 1)[0] as { tag: string; digest: string };
        const ref = random() < 0.5 ? victim.tag : victim.digest;
        const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: 'DELETE' });
        if (res.status !== 202) stats.errors.push(`DELETE ${repo}:${ref}: ${res.status}`);
        else stats.deletes++;
        continue;
      }
      n++;
      const layers = [POOL[Math.floor(random() * POOL.length)], POOL[Math.floor(random() * POOL.length)]].filter(
        (l, i, all) => all.indexOf(l) === i,
      ) as Buffer[];
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', client, n }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
          layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
        }),
      );
      const tag = `t${n}`;
      for (let attempt = 0; ; attempt++) {
        for (const blob of [config, ...layers]) await putBlob(url, repo, blob, attempt === 0);
        const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
          method: 'PUT',
          headers: { 'content-type': OCI_MANIFEST },
          body: manifest,
        });
        if (res.status === 201) break;
        const body = await res.text();
        if (res.status === 400 && body.includes('MANIFEST_BLOB_UNKNOWN') && attempt < 3) {
          stats.blobRetries++;
          continue;
        }
        throw new Error(`PUT ${repo}:${tag}: ${res.status} ${body}`);
      }
      tags.push({ tag, digest: sha256(manifest) });
      stats.pushes++;
    }
  } catch (err) {
    const message =
      err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : String(err);
    // A killed server refuses or resets connections: that ends this client's run.
    if (!/ECONNREFUSED|ECONNRESET|fetch failed|other side closed|socket/i.test(message)) stats.errors.push(message);
  }
}

/** Every repository and tag the registry lists. */
export async function listTagged(url: string): Promise<{ repo: string; tag: string }[]> {
  const catalog = (await (await fetch(`${url}/v2/_catalog?n=1000`)).json()) as { repositories: string[] };
  const out: { repo: string; tag: string }[] = [];
  for (const repo of catalog.repositories) {
    const res = await fetch(`${url}/v2/${repo}/tags/list?n=1000`);
    if (res.status !== 200) continue;
    const { tags } = (await res.json()) as { tags: string[] | null };
    for (const tag of tags ?? []) out.push({ repo, tag });
  }
  return out;
}

/**
 * Pulls every tagged image over HTTP and checks every byte: the manifest against its digest, the
 * config and each layer against theirs. Returns how many images were checked; throws on the first
 * that does not pull.
 */
export async function verifyTaggedOverHttp(url: string): Promise<number> {
  const tagged = await listTagged(url);
  for (const { repo, tag } of tagged) {
    const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`${repo}:${tag} manifest: ${res.status}`);
    if (res.headers.get('docker-content-digest') !== sha256(body)) throw new Error(`${repo}:${tag} manifest digest`);
    const m = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [m.config, ...m.layers]) {
      const blob = await fetch(`${url}/v2/${repo}/blobs/${d.digest}`);
      const bytes = Buffer.from(await blob.arrayBuffer());
      if (blob.status !== 200 || sha256(bytes) !== d.digest) {
        throw new Error(`${repo}:${tag} blob ${d.digest}: status ${blob.status}, ${bytes.length} bytes`);
      }
    }
  }
  return tagged.length;
}
