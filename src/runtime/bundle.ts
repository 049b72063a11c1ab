// Getting a container ready to run: its root filesystem mounted (overlay of the image's
// snapshots + its own upper directory), the files Docker's init layer provides, and the runc
// bundle's config.json.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../archive/paths.js';
import type { LocalStore } from '../engine/store.js';
import type { Container } from './containers.js';
import { containerLayout } from './layout.js';
import { exec } from './runc.js';
import { prepareSnapshots } from './snapshots.js';
import { bindMount, type Mount, runtimeSpec } from './spec.js';
import { resolveUser } from './user.js';
import { isEmptyVolume } from './volumes.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Whether `path` is a mount point now (from /proc/self/mountinfo; octal escapes decoded). */
export async function isMounted(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => {
    const field = line.split(' ')[4];
    return (
      field !== undefined &&
      field.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))) === path
    );
  });
}

/**
 * Docker's init layer: the mount points of the container (/proc, /dev, /etc/hosts, volumes…) made
 * in a layer of their own between the image and the container's upper directory, so that
 * creating them never shows up in `diff`, `commit` or `export` as a change of the container.
 */
async function writeInitLayer(root: string, container: Container): Promise<string> {
  const init = containerLayout.init(root, container.id);
  const dirs = ['dev/pts', 'dev/shm', 'dev/mqueue', 'proc', 'sys', 'etc'];
  for (const m of container.hostConfig.Mounts) dirs.push(m.Destination.replace(/^\/+/, ''));
  for (const d of dirs) await mkdir(join(init, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) await writeFile(join(init, 'etc', f), '', { flag: 'a' });
  return init;
}

const INIT_FILES = ['hosts', 'hostname', 'resolv.conf'];

/** Mounts the container's root filesystem unless it is mounted already. */
export async function mountRootfs(store: LocalStore, container: Container): Promise<string> {
  const { root } = store;
  const rootfs = containerLayout.rootfs(root, container.id);
  if (await isMounted(rootfs)) return rootfs;
  const upper = containerLayout.upper(root, container.id);
  const work = containerLayout.work(root, container.id);
  await Promise.all([rootfs, upper, work].map((d) => mkdir(d, { recursive: true })));
  const lowers = [...(await prepareSnapshots(store, container.imageId)), await writeInitLayer(root, container)];
  const options = `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`;
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', options, rootfs]);
  return rootfs;
}

export async function unmountRootfs(root: string, id: string): Promise<void> {
  const rootfs = containerLayout.rootfs(root, id);
  if (await isMounted(rootfs)) await exec('umount', [rootfs]);
}

/** The files of Docker's init layer, written beside the bundle and bind-mounted over /etc. */
async function initFiles(dir: string, container: Container): Promise<Mount[]> {
  const hostname = container.config.Hostname;
  const hosts = join(dir, 'hosts');
  const hostnameFile = join(dir, 'hostname');
  const resolv = join(dir, 'resolv.conf');
  if (container.hostConfig.NetworkMode === 'host') {
    await copyFile('/etc/hosts', hosts);
  } else {
    await writeFile(
      hosts,
      [
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet',
        'ff00::0\tip6-mcastprefix',
        'ff02::1\tip6-allnodes',
        'ff02::2\tip6-allrouters',
        `127.0.1.1\t${hostname}`,
        '',
      ].join('\n'),
    );
  }
  await writeFile(hostnameFile, `${hostname}\n`);
  await copyFile('/etc/resolv.conf', resolv).catch(() => writeFile(resolv, ''));
  return [
    bindMount(hosts, '/etc/hosts'),
    bindMount(hostnameFile, '/etc/hostname'),
    bindMount(resolv, '/etc/resolv.conf'),
  ];
}

/**
 * A volume mounted for the first time gets what the image has at its mount point, as Docker
 * copies it ("copy-up"), so that a VOLUME of the image starts with the image's files.
 */
async function copyUpVolumes(rootfs: string, container: Container): Promise<void> {
  for (const m of container.hostConfig.Mounts) {
    if (m.Type !== 'volume' || !(await isEmptyVolume(m.Source))) continue;
    const inImage = resolveInRoot(rootfs, m.Destination.split('/'), m.Destination);
    if ((await readdir(inImage).catch(() => [])).length === 0) continue;
    await exec('cp', ['-a', '--', `${inImage}/.`, `${m.Source}/`]);
  }
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
  const env = [...container.config.Env];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  env.push(`HOSTNAME=${container.config.Hostname}`);
  if (container.config.Tty) env.push('TERM=xterm');
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  await copyUpVolumes(rootfs, container);
  const binds = [
    ...(await initFiles(dir, container)),
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
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
  return dir;
}
