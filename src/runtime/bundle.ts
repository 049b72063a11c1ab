// The pieces of a runc bundle, on plain directories: the overlay root filesystem, Docker's init
// layer and /etc files, the image's content copied into fresh volumes, and config.json.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../archive/paths.js';
import { exec } from './runc.js';
import { bindMount, type Mount } from './spec.js';

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
 * Mounts `lowers` (bottom first) + `upper` on `target`. redirect_dir and metacopy are off, so that
 * the upper directory is always a plain tree of changes (what commit and diff read).
 */
export async function mountOverlay(lowers: string[], upper: string, work: string, target: string): Promise<void> {
  await Promise.all([target, upper, work].map((d) => mkdir(d, { recursive: true })));
  const lowerdir = [...lowers].reverse().join(':');
  const options = `lowerdir=${lowerdir},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off`;
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', options, target]);
}

export async function unmountIfMounted(target: string): Promise<void> {
  if (await isMounted(target)) await exec('umount', [target]);
}

const INIT_FILES = ['hosts', 'hostname', 'resolv.conf'];

/**
 * Docker's init layer: the container's mount points (/proc, /dev, /etc/hosts…, and `extraDirs`
 * such as volume destinations) in a layer of their own between the image and the container's
 * upper directory, so that creating them never counts as a change of the container.
 */
export async function writeInitLayer(init: string, extraDirs: readonly string[]): Promise<string> {
  const dirs = [
    'dev/pts',
    'dev/shm',
    'dev/mqueue',
    'proc',
    'sys',
    'etc',
    ...extraDirs.map((d) => d.replace(/^\/+/, '')),
  ];
  for (const d of dirs) await mkdir(join(init, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) await writeFile(join(init, 'etc', f), '', { flag: 'a' });
  return init;
}

/** Writes hosts, hostname and resolv.conf into `dir`; returns their bind mounts over /etc. */
export async function writeEtcFiles(dir: string, hostname: string, network: 'none' | 'host'): Promise<Mount[]> {
  const hosts = join(dir, 'hosts');
  const hostnameFile = join(dir, 'hostname');
  const resolv = join(dir, 'resolv.conf');
  if (network === 'host') {
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

/** Whether a directory holds nothing (a volume never used yet). */
export async function isEmptyDir(path: string): Promise<boolean> {
  return (await readdir(path).catch(() => [])).length === 0;
}

/**
 * Docker's volume copy-up: what the root filesystem has at `destination` (symlinks followed
 * inside the root only) is copied into the empty volume directory `volume`.
 */
export async function copyUp(rootfs: string, destination: string, volume: string): Promise<void> {
  if (!(await isEmptyDir(volume))) return;
  const inImage = resolveInRoot(rootfs, destination.split('/'), destination);
  if (await isEmptyDir(inImage)) return;
  await exec('cp', ['-a', '--', `${inImage}/.`, `${volume}/`]);
}

export async function writeSpec(bundle: string, spec: Record<string, unknown>): Promise<void> {
  await writeFile(join(bundle, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
}
