import type { FastifyInstance } from 'fastify';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';

/** Small helpers to push content through fastify.inject(), as a client would. */
export async function pushBlob(app: FastifyInstance, repo: string, data: Buffer | string): Promise<string> {
  const digest = digestOf(data);
  const res = await app.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from(data),
  });
  if (res.statusCode !== 201) throw new Error(`blob push failed: ${res.statusCode} ${res.body}`);
  return digest;
}

export interface PushedImage {
  digest: string;
  body: Buffer;
  config: string;
  layers: string[];
}

/** Pushes a config, the given layers and an OCI image manifest under `tag`. */
export async function pushImage(
  app: FastifyInstance,
  repo: string,
  tag: string,
  options: {
    layers?: string[];
    subject?: { digest: string; size: number; mediaType: string };
    artifactType?: string;
    mediaType?: string;
  } = {},
): Promise<PushedImage> {
  const configBody = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    tag,
  });
  const config = await pushBlob(app, repo, configBody);
  const layerData = options.layers ?? [`layer of ${repo}:${tag}`];
  const layers: string[] = [];
  for (const l of layerData) layers.push(await pushBlob(app, repo, l));
  const mediaType = options.mediaType ?? MediaType.ociManifest;
  const layerType =
    mediaType === MediaType.dockerManifest
      ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
      : 'application/vnd.oci.image.layer.v1.tar+gzip';
  const configType =
    mediaType === MediaType.dockerManifest
      ? 'application/vnd.docker.container.image.v1+json'
      : 'application/vnd.oci.image.config.v1+json';
  const manifest = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: { mediaType: configType, digest: config, size: Buffer.byteLength(configBody) },
    layers: layers.map((d, i) => ({
      mediaType: layerType,
      digest: d,
      size: Buffer.byteLength(layerData[i] as string),
    })),
    ...(options.subject ? { subject: options.subject } : {}),
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    headers: { 'content-type': mediaType },
    payload: body,
  });
  if (res.statusCode !== 201) throw new Error(`manifest push failed: ${res.statusCode} ${res.body}`);
  return { digest: digestOf(body), body, config, layers };
}

/** The error codes of an OCI error envelope. */
export function errorCodes(body: string): string[] {
  const parsed = JSON.parse(body) as { errors?: { code: string }[] };
  return (parsed.errors ?? []).map((e) => e.code);
}
