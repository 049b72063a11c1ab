// `create`/`run` options turned into a container record, as Docker merges them with the image config.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { DaemonError } from '../images.js';
import type { LocalStore } from '../store.js';
import {
  type Container,
  type ContainerConfig,
  type HostConfig,
  insertContainer,
  type MountPoint,
  type RestartPolicy,
} from './records.js';
import { rootfsMode } from './rootfs-mode.js';
import { createVolume } from './volumes.js';

/** What `wharf create/run` takes, already parsed from flags. */
export interface CreateOptions {
  name?: string;
  /** Command and arguments after the image. */
  args: string[];
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  /** `--entrypoint`: '' clears the image's entrypoint. */
  entrypoint?: string;
  volumes: string[];
  network: string;
  restart: string;
  autoRemove: boolean;
  tty: boolean;
  interactive: boolean;
}

/** The parts of an image config that a container inherits. */
type ImageRuntimeConfig = Partial<ContainerConfig>;

export async function imageRuntimeConfig(store: LocalStore, imageId: string): Promise<ImageRuntimeConfig> {
  const config = JSON.parse((await store.content.get(imageId)).toString('utf8')) as { config?: ImageRuntimeConfig };
  return config.config ?? {};
}

/** `--restart` as Docker parses it. */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name = '', count] = value.split(':', 2);
  switch (name) {
    case '':
    case 'no':
      if (count !== undefined)
        throw new DaemonError(
          `invalid restart policy: maximum retry count cannot be used with restart policy '${name}'`,
        );
      return { Name: 'no', MaximumRetryCount: 0 };
    case 'always':
    case 'unless-stopped':
      if (count !== undefined)
        throw new DaemonError(
          `invalid restart policy: maximum retry count cannot be used with restart policy '${name}'`,
        );
      return { Name: name, MaximumRetryCount: 0 };
    case 'on-failure': {
      const max = count === undefined ? 0 : Number(count);
      if (!Number.isInteger(max) || max < 0)
        throw new DaemonError(`invalid restart policy: maximum retry count must be a positive integer`);
      return { Name: 'on-failure', MaximumRetryCount: max };
    }
    default:
      throw new DaemonError(
        `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
      );
  }
}

/** `-e KEY=VALUE`, or `-e KEY` taking the value from this environment (dropped when unset). */
function parseEnv(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.includes('=')) out.push(v);
    else if (process.env[v] !== undefined) out.push(`${v}=${process.env[v]}`);
  }
  return out;
}

async function readEnvFiles(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => {
      throw new Error(`open ${file}: no such file or directory`);
    });
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      out.push(trimmed);
    }
  }
  return parseEnv(out);
}

/** Merges `KEY=VALUE` lists: later keys replace earlier ones in place. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const entry of extra) {
    const key = entry.split('=', 1)[0];
    const i = out.findIndex((e) => e.split('=', 1)[0] === key);
    if (i >= 0) out[i] = entry;
    else out.push(entry);
  }
  return out;
}

/** `-v SOURCE:DEST[:ro|rw]` or `-v DEST` (anonymous). */
async function parseVolume(store: LocalStore, spec: string): Promise<MountPoint> {
  const parts = spec.split(':');
  let mode = 'rw';
  if (
    parts.length === 3 ||
    (parts.length === 2 && (parts[1] === 'ro' || parts[1] === 'rw') && !isAbsolute(parts[1] ?? ''))
  ) {
    mode = parts.pop() as string;
  }
  if (mode !== 'ro' && mode !== 'rw') throw new DaemonError(`invalid mode: ${mode}`);
  const rw = mode === 'rw';
  if (parts.length === 1) {
    const destination = parts[0] as string;
    if (!isAbsolute(destination)) throw new DaemonError(`invalid volume specification: '${spec}'`);
    const volume = await createVolume(store, { anonymous: true });
    return {
      Type: 'volume',
      Name: volume.name,
      Source: volume.mountpoint,
      Destination: destination,
      RW: rw,
      Anonymous: true,
    };
  }
  const [source = '', destination = ''] = parts;
  if (!isAbsolute(destination)) {
    throw new DaemonError(
      `invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${destination}' mount path must be absolute`,
    );
  }
  if (isAbsolute(source)) {
    // Docker creates a missing bind source directory.
    if (!(await stat(source).catch(() => undefined))) await mkdir(source, { recursive: true });
    return { Type: 'bind', Source: source, Destination: destination, RW: rw };
  }
  const volume = await createVolume(store, { name: source });
  return { Type: 'volume', Name: volume.name, Source: volume.mountpoint, Destination: destination, RW: rw };
}

/** Creates the container record: the image's config with the options applied, volumes made. */
export async function createContainer(
  store: LocalStore,
  imageId: string,
  imageRef: string,
  options: CreateOptions,
): Promise<Container> {
  if (options.network !== 'none' && options.network !== 'host') {
    throw new DaemonError(`network ${options.network} not found (Wharf has the networks none and host)`);
  }
  const restart = parseRestartPolicy(options.restart);
  if (options.autoRemove && restart.Name !== 'no') throw new DaemonError('Conflicting options: --restart and --rm');
  const image = await imageRuntimeConfig(store, imageId);
  let entrypoint = image.Entrypoint ?? null;
  let cmd = image.Cmd ?? null;
  if (options.entrypoint !== undefined) {
    entrypoint = options.entrypoint === '' ? null : [options.entrypoint];
    cmd = null; // Docker drops the image's Cmd when the entrypoint is overridden
  }
  if (options.args.length > 0) cmd = options.args;
  if ((entrypoint?.length ?? 0) + (cmd?.length ?? 0) === 0) throw new DaemonError('no command specified');

  const env = mergeEnv(mergeEnv(image.Env ?? [], await readEnvFiles(options.envFiles)), parseEnv(options.env));
  const mounts: MountPoint[] = [];
  for (const spec of options.volumes) mounts.push(await parseVolume(store, spec));
  for (const destination of Object.keys(image.Volumes ?? {})) {
    if (mounts.some((m) => m.Destination === destination)) continue;
    const volume = await createVolume(store, { anonymous: true });
    mounts.push({
      Type: 'volume',
      Name: volume.name,
      Source: volume.mountpoint,
      Destination: destination,
      RW: true,
      Anonymous: true,
    });
  }
  // In Go's field order, as Docker prints it.
  const config: ContainerConfig = {
    Hostname: options.hostname ?? '',
    Domainname: '',
    User: options.user ?? image.User ?? '',
    AttachStdin: options.interactive,
    AttachStdout: true,
    AttachStderr: true,
    ...(image.ExposedPorts ? { ExposedPorts: image.ExposedPorts } : {}),
    Tty: options.tty,
    OpenStdin: options.interactive,
    StdinOnce: options.interactive,
    Env: env,
    Cmd: cmd,
    ...(image.Healthcheck ? { Healthcheck: image.Healthcheck } : {}),
    Image: imageRef,
    Volumes: image.Volumes ? Object.fromEntries(Object.keys(image.Volumes).map((k) => [k, {}])) : null,
    WorkingDir: options.workdir ?? image.WorkingDir ?? '',
    Entrypoint: entrypoint,
    OnBuild: image.OnBuild ?? null,
    Labels: image.Labels ?? {},
    ...(image.StopSignal ? { StopSignal: image.StopSignal } : {}),
    ...(image.Shell ? { Shell: image.Shell } : {}),
  };

  const hostConfig: HostConfig = {
    RootfsMode: await rootfsMode(store.root),
    NetworkMode: options.network,
    RestartPolicy: restart,
    AutoRemove: options.autoRemove,
    Mounts: mounts,
  };
  return insertContainer(store.db, {
    ...(options.name !== undefined ? { name: options.name } : {}),
    imageId,
    imageRef,
    config,
    hostConfig,
  });
}
