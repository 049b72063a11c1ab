// `docker image inspect`: Docker's image JSON (API 1.45+ field set, see docs/local-images.md).

import { familiarOfFullName } from '../oci/reference.js';
import { resolveImage } from './images.js';
import type { HistoryEntry } from './new-image.js';
import type { LocalStore } from './store.js';

/** The JSON values inspect prints. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

interface ImageConfigJson {
  architecture?: string;
  variant?: string;
  os?: string;
  'os.version'?: string;
  author?: string;
  comment?: string;
  created?: string;
  docker_version?: string;
  config?: Record<string, JsonValue> | null;
  history?: HistoryEntry[];
  rootfs?: { type?: string; diff_ids?: string[] };
}

/**
 * Docker's container.Config field order: the daemon decodes the config into this struct and
 * encodes it again, so every field appears (null/empty when unset) except the omitempty ones.
 */
const CONFIG_FIELDS: [string, JsonValue | undefined][] = [
  ['Hostname', ''],
  ['Domainname', ''],
  ['User', ''],
  ['AttachStdin', false],
  ['AttachStdout', false],
  ['AttachStderr', false],
  ['ExposedPorts', undefined],
  ['Tty', false],
  ['OpenStdin', false],
  ['StdinOnce', false],
  ['Env', null],
  ['Cmd', null],
  ['Healthcheck', undefined],
  ['ArgsEscaped', undefined],
  ['Image', ''],
  ['Volumes', null],
  ['WorkingDir', ''],
  ['Entrypoint', null],
  ['NetworkDisabled', undefined],
  ['MacAddress', undefined],
  ['OnBuild', null],
  ['Labels', null],
  ['StopSignal', undefined],
  ['StopTimeout', undefined],
  ['Shell', undefined],
];

function dockerConfig(config: Record<string, JsonValue> | null | undefined): JsonObject {
  const out: JsonObject = {};
  const source = config ?? {};
  for (const [key, empty] of CONFIG_FIELDS) {
    const value = source[key];
    const isEmpty = value === undefined || value === null || value === '' || value === false;
    if (!isEmpty) out[key] = value;
    else if (empty !== undefined) out[key] = empty;
  }
  return out;
}

/**
 * The config as the docker CLI (v26+) decodes it for templates: the OCI image config plus
 * Docker's extensions, every field omitempty, in the Go struct's order.
 */
const OCI_CONFIG_FIELDS = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'ArgsEscaped',
  'Healthcheck',
  'OnBuild',
  'Shell',
];

function ociConfig(config: Record<string, JsonValue> | null | undefined): JsonObject {
  const out: JsonObject = {};
  for (const key of OCI_CONFIG_FIELDS) {
    const value = config?.[key];
    const empty =
      value === undefined ||
      value === null ||
      value === '' ||
      value === false ||
      (Array.isArray(value) && value.length === 0) ||
      (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);
    if (!empty) out[key] = value;
  }
  return out;
}

/** Go's RFC3339Nano of a timestamp string: the fraction without trailing zeros. */
export function rfc3339Nano(time: string): string {
  return time.replace(/\.(\d+?)0*(Z|[+-]\d\d:\d\d)$/, (_m, f: string, z: string) => (/^0*$/.test(f) ? z : `.${f}${z}`));
}

/** One image as inspect shows it: the daemon's JSON, and the value `--format` templates see. */
export interface ImageInspect {
  json: JsonObject;
  template: JsonObject;
}

/** The inspect JSON of one image, keys in Docker's order. */
export async function inspectImage(store: LocalStore, name: string): Promise<ImageInspect> {
  const { db, content } = store;
  const id = await resolveImage(db, name);
  const [image, tags, digests] = await Promise.all([
    db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    db.selectFrom('tags').select(['name', 'tag']).where('image_id', '=', id).orderBy('name').orderBy('tag').execute(),
    db.selectFrom('repo_digests').select(['name', 'digest']).where('image_id', '=', id).orderBy('seq').execute(),
  ]);
  const config = JSON.parse((await content.get(id)).toString('utf8')) as ImageConfigJson;
  const comment = config.comment || config.history?.[config.history.length - 1]?.comment || '';
  const out: JsonObject = {
    Id: id,
    RepoTags: tags.map((t) => `${familiarOfFullName(t.name)}:${t.tag}`),
    RepoDigests: digests.map((d) => `${familiarOfFullName(d.name)}@${d.digest}`),
  };
  // API 1.45+: Parent, Comment, DockerVersion and Author are omitted when empty; Container and ContainerConfig are gone.
  if (image.parent) out.Parent = image.parent;
  if (comment) out.Comment = comment;
  out.Created = config.created ? rfc3339Nano(config.created) : '0001-01-01T00:00:00Z';
  if (config.docker_version) out.DockerVersion = config.docker_version;
  if (config.author) out.Author = config.author;
  out.Config = dockerConfig(config.config);
  out.Architecture = config.architecture ?? '';
  if (config.variant) out.Variant = config.variant;
  out.Os = config.os ?? '';
  if (config['os.version']) out.OsVersion = config['os.version'];
  out.Size = Number(image.size);
  // Wharf keeps layers as tar blobs and has no graph driver: the name says so, with no data.
  out.GraphDriver = { Data: null, Name: 'wharf' };
  const diffIds = config.rootfs?.diff_ids ?? [];
  out.RootFS = diffIds.length > 0 ? { Type: config.rootfs?.type ?? 'layers', Layers: diffIds } : { Type: 'layers' };
  out.Metadata = { LastTagTime: image.last_tag_time ? rfc3339Nano(image.last_tag_time) : '0001-01-01T00:00:00Z' };
  return { json: out, template: { ...out, Config: ociConfig(config.config) } };
}

/** Docker's `json.MarshalIndent(v, "", "    ")` with Go's HTML escaping of <, > and &. */
export function dockerJson(value: JsonValue): string {
  return JSON.stringify(value, null, 4).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}
