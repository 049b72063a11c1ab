// Getting a container ready to run: its root filesystem mounted (overlay of the image's
// snapshots, the init layer and its own upper directory), the /etc files Docker provides, fresh
// volumes filled from the image, and the runc bundle's config.json.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  copyUp,
  isMounted,
  mountOverlay,
  unmountIfMounted,
  writeEtcFiles,
  writeInitLayer,
  writeSpec,
} from '../../runtime/bundle.js';
import { exec } from '../../runtime/runc.js';
import { bindMount, runtimeSpec } from '../../runtime/spec.js';
import { resolveUser } from '../../runtime/user.js';
import type { LocalStore } from '../store.js';
import { containerLayout, pathExists } from './layout.js';
import type { Container } from './records.js';
import { prepareFlatSnapshot, prepareSnapshots } from './snapshots.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function isCopiedRoot(container: Container): boolean {
  return container.hostConfig.RootfsMode === 'copy';
}

function writeContainerInit(root: string, container: Container): Promise<string> {
  return writeInitLayer(
    containerLayout.init(root, container.id),
    container.hostConfig.Mounts.map((m) => m.Destination),
  );
}

/**
 * Makes the container's root filesystem ready: an overlay of its lowers and upper directory,
 * mounted unless it is already; or, for a copied root, the image's tree copied once into the
 * directory, with the init layer over it.
 */
export async function mountRootfs(store: LocalStore, container: Container): Promise<string> {
  const { root } = store;
  const rootfs = containerLayout.rootfs(root, container.id);
  if (isCopiedRoot(container)) {
    const ready = join(containerLayout.dir(root, container.id), 'rootfs.ready');
    if (await pathExists(ready)) return rootfs;
    await rm(rootfs, { recursive: true, force: true });
    const flat = await prepareFlatSnapshot(store, container.imageId);
    if (flat) await exec('cp', ['-a', '--', flat, rootfs]);
    else await mkdir(rootfs, { recursive: true });
    const init = await writeContainerInit(root, container);
    await exec('cp', ['-a', '--', `${init}/.`, `${rootfs}/`]);
    await writeFile(ready, '');
    return rootfs;
  }
  if (await isMounted(rootfs)) return rootfs;
  const init = await writeContainerInit(root, container);
  const lowers = [...(await prepareSnapshots(store, container.imageId)), init];
  await mountOverlay(
    lowers,
    containerLayout.upper(root, container.id),
    containerLayout.work(root, container.id),
    rootfs,
  );
  return rootfs;
}

/** Whether a copied root has been made (a container never started has none yet). */
export function copiedRootReady(root: string, id: string): Promise<boolean> {
  return pathExists(join(containerLayout.dir(root, id), 'rootfs.ready'));
}

export function unmountRootfs(root: string, id: string): Promise<void> {
  return unmountIfMounted(containerLayout.rootfs(root, id));
}

/** The process arguments: Entrypoint + Cmd, as Docker joins them. */
export function commandOf(container: Container): string[] {
  return [...(container.config.Entrypoint ?? []), ...(container.config.Cmd ?? [])];
}

/** Mounts the root filesystem and writes the bundle's config.json; returns the bundle directory. */
export async function prepareBundle(store: LocalStore, container: Container): Promise<string> {
  const dir = containerLayout.dir(store.root, container.id);
  const rootfs = await mountRootfs(store, container);
  const args = commandOf(container);
  if (args.length === 0) throw new Error('no command specified');
  const user = await resolveUser(rootfs, container.config.User);
  const env = [...(container.config.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  env.push(`HOSTNAME=${container.config.Hostname}`);
  if (container.config.Tty) env.push('TERM=xterm');
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  for (const m of container.hostConfig.Mounts) if (m.Type === 'volume') await copyUp(rootfs, m.Destination, m.Source);
  const binds = [
    ...(await writeEtcFiles(dir, container.config.Hostname, container.hostConfig.NetworkMode)),
    ...container.hostConfig.Mounts.map((m) => bindMount(m.Source, m.Destination, !m.RW)),
  ];
  const spec = runtimeSpec({
    rootfs,
    hostname: container.config.Hostname,
    process: {
      args,
      env,
      cwd: container.config.WorkingDir || '/',
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
      // runc in the foreground makes the container's console and relays it to its own stdio,
      // which the monitor makes a pseudo-terminal too (through `script`), sized like the client's.
      terminal: container.config.Tty,
    },
    binds,
    network: container.hostConfig.NetworkMode,
  });
  await writeSpec(dir, spec);
  return dir;
}
