// `docker commit`: a container's writable layer (its overlay upper directory, whiteouts converted)
// becomes one new layer on top of the container's image; the config is the container's, with the
// `--change` instructions applied and merged as moby's daemon/commit.go does.
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { packChanges, packDirectory } from '../../archive/pack.js';
import { fullName, parseReference } from '../../oci/reference.js';
import { runcPause, runcResume, runcState } from '../../runtime/runc.js';
import { applyChanges, ChangeError, type ContainerConfig, type HealthConfig } from '../changes.js';
import { DaemonError } from '../images.js';
import { createImage } from '../new-image.js';
import type { LocalStore } from '../store.js';
import { isCopiedRoot } from './bundle.js';
import { containerChanges } from './diff.js';
import { containerLayout, pathExists } from './layout.js';
import { reconcile } from './lifecycle.js';
import type { Container } from './records.js';

export interface CommitOptions {
  /** REPOSITORY[:TAG]; the tag defaults to latest. No repository: an untagged image. */
  repository?: string;
  author?: string;
  comment?: string;
  changes?: readonly string[];
  /** Freeze the container's processes while its layer is read (default true). */
  pause?: boolean;
}

/** What the docker client checks before sending a commit: the target tag, parsed. */
export function commitTarget(repository: string | undefined): { name: string; tag: string } | undefined {
  if (repository === undefined || repository === '') return undefined;
  const ref = parseReference(repository);
  if (ref.digest !== undefined) throw new Error('refusing to create a tag with a digest reference');
  return { name: fullName(ref), tag: ref.tag ?? 'latest' };
}

/** The parts of the parent image's config that commit carries over. */
interface ParentImage {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: {
    ExposedPorts?: Record<string, Record<string, never>>;
    Healthcheck?: HealthConfig;
    ArgsEscaped?: boolean;
    OnBuild?: string[] | null;
  };
}

/**
 * The container's config in the image config's shape (Go's key order). Wharf's container record
 * keeps the fields it runs with; the image's ExposedPorts and Healthcheck, which a Docker
 * container inherits, come from the parent.
 */
function asImageConfig(c: Container, parent: ParentImage): ContainerConfig {
  const cfg = c.config;
  const inherited = parent.config ?? {};
  return {
    Hostname: cfg.Hostname,
    Domainname: cfg.Domainname,
    User: cfg.User,
    AttachStdin: cfg.AttachStdin,
    AttachStdout: cfg.AttachStdout,
    AttachStderr: cfg.AttachStderr,
    ...(inherited.ExposedPorts ? { ExposedPorts: inherited.ExposedPorts } : {}),
    Tty: cfg.Tty,
    OpenStdin: cfg.OpenStdin,
    StdinOnce: cfg.StdinOnce,
    // Docker's container config has a null Env when nothing set one.
    Env: cfg.Env && cfg.Env.length > 0 ? cfg.Env : null,
    Cmd: cfg.Cmd,
    ...(inherited.Healthcheck ? { Healthcheck: inherited.Healthcheck } : {}),
    ...(inherited.ArgsEscaped ? { ArgsEscaped: inherited.ArgsEscaped } : {}),
    Image: cfg.Image,
    Volumes: cfg.Volumes,
    WorkingDir: cfg.WorkingDir,
    Entrypoint: cfg.Entrypoint,
    OnBuild: null,
    Labels: cfg.Labels,
    ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
  };
}

/** moby's merge(userConf, imageConf): fields the changes left empty come from the container. */
export function mergeConfig(user: ContainerConfig, base: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = structuredClone(user);
  if (out.User === '') out.User = base.User;
  if (Object.keys(out.ExposedPorts ?? {}).length === 0) {
    if (base.ExposedPorts) out.ExposedPorts = base.ExposedPorts;
    else delete out.ExposedPorts;
  } else if (base.ExposedPorts) out.ExposedPorts = { ...base.ExposedPorts, ...out.ExposedPorts };
  if ((out.Env ?? []).length === 0) out.Env = base.Env;
  else {
    const keys = new Set((out.Env ?? []).map((e) => e.split('=')[0]));
    out.Env = [...(out.Env ?? []), ...(base.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  }
  out.Labels = { ...(base.Labels ?? {}), ...(out.Labels ?? {}) };
  if ((out.Entrypoint ?? []).length === 0) {
    if ((out.Cmd ?? []).length === 0) {
      out.Cmd = base.Cmd;
      if (base.ArgsEscaped) out.ArgsEscaped = base.ArgsEscaped;
      else delete out.ArgsEscaped;
    }
    if (out.Entrypoint === null) out.Entrypoint = base.Entrypoint;
  }
  if (base.Healthcheck) {
    const h: HealthConfig = { ...(out.Healthcheck ?? {}) };
    if (!h.Test || h.Test.length === 0) h.Test = base.Healthcheck.Test;
    if (!h.Interval) h.Interval = base.Healthcheck.Interval;
    if (!h.Timeout) h.Timeout = base.Healthcheck.Timeout;
    if (!h.StartPeriod) h.StartPeriod = base.Healthcheck.StartPeriod;
    if (!h.Retries) h.Retries = base.Healthcheck.Retries;
    out.Healthcheck = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as HealthConfig;
  }
  if (out.WorkingDir === '') out.WorkingDir = base.WorkingDir;
  if (Object.keys(out.Volumes ?? {}).length === 0) out.Volumes = base.Volumes;
  else out.Volumes = { ...(out.Volumes ?? {}), ...(base.Volumes ?? {}) };
  if (!out.StopSignal && base.StopSignal) out.StopSignal = base.StopSignal;
  return out;
}

/** An empty tar (two zero blocks): the layer of a container without a writable directory yet. */
function emptyTar(): Readable {
  const tar = tarPack();
  tar.finalize();
  return Readable.from(tar, { objectMode: false });
}

/** The container's changes as a layer tar: its overlay upper directory, or the changes of a copied root. */
async function changesLayer(store: LocalStore, container: Container): Promise<Readable> {
  if (isCopiedRoot(container)) {
    return packChanges(containerLayout.rootfs(store.root, container.id), await containerChanges(store, container));
  }
  const upper = containerLayout.upper(store.root, container.id);
  return (await pathExists(upper)) ? packDirectory(upper, { whiteouts: 'overlay' }) : emptyTar();
}

/** Commits the container; returns the new image ID (`sha256:…`). */
export async function commitContainer(
  store: LocalStore,
  container: Container,
  options: CommitOptions = {},
): Promise<string> {
  const tag = commitTarget(options.repository);
  const current = await reconcile(store, container);
  if (current.status === 'dead') throw new DaemonError(`You cannot commit container ${current.id} which is Dead`);
  if (current.status === 'removing') {
    throw new DaemonError(`You cannot commit container ${current.id} which is being removed`);
  }
  const parent = JSON.parse((await store.content.get(current.imageId)).toString('utf8')) as ParentImage;
  const base = asImageConfig(current, parent);
  let config: ContainerConfig;
  try {
    config = mergeConfig(applyChanges(base, options.changes ?? []), base);
  } catch (err) {
    if (err instanceof ChangeError) throw new DaemonError(err.message);
    throw err;
  }

  const stateRoot = containerLayout.runcRoot(store.root);
  // A running container is frozen while its layer is read; a paused one stays as it is, and one
  // that exits meanwhile needs no pause.
  let paused = false;
  if (options.pause !== false && current.status === 'running') {
    try {
      await runcPause(stateRoot, current.id);
      paused = true;
    } catch (err) {
      if ((await runcState(stateRoot, current.id))?.status === 'running') throw err;
    }
  }
  try {
    return await createImage(store, {
      parent: current.imageId,
      layer: await changesLayer(store, current),
      skipEmptyLayer: true,
      config: config as unknown as Record<string, unknown>,
      // Docker records the container's Cmd alone (not the entrypoint) as created_by.
      history: {
        ...(current.config.Cmd?.length ? { created_by: current.config.Cmd.join(' ') } : {}),
        ...(options.author ? { author: options.author } : {}),
        ...(options.comment ? { comment: options.comment } : {}),
      },
      ...(options.author ? { author: options.author } : {}),
      ...(options.comment ? { comment: options.comment } : {}),
      os: parent.os ?? 'linux',
      architecture: parent.architecture ?? 'amd64',
      ...(parent.variant ? { variant: parent.variant } : {}),
      container: current.id,
      containerConfig: current.config as unknown as Record<string, unknown>,
      ...(tag ? { tag } : {}),
    });
  } finally {
    if (paused) await runcResume(stateRoot, current.id);
  }
}
