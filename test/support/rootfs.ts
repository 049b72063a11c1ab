// Reproducible tars for the tests: GNU tar over a directory with the names sorted, mtime 0 and root
// as owner, and the busybox root filesystem (Debian's busybox-static) that Wharf and the test Docker
// engine both import, so that both start from the same layer.
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk, whichTool } from './tools.js';

/**
 * Writes to `file` a tar of everything under `dir` (as `./…`), the same bytes for the same files
 * every time: sorted names, mtime 0, uid and gid 0 given as numbers. `extra` are more GNU tar
 * options (such as `--mode=go-w`). Returns `file`.
 */
export async function deterministicTar(dir: string, file: string, extra: readonly string[] = []): Promise<string> {
  await runOk('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    ...extra,
    '-C',
    dir,
    '-cf',
    file,
    '.',
  ]);
  return file;
}

/** Busybox applets linked into the rootfs's /bin. */
const BUSYBOX_APPLETS = [
  'cat',
  'chmod',
  'cp',
  'dd',
  'echo',
  'env',
  'false',
  'find',
  'ln',
  'ls',
  'mkdir',
  'mv',
  'rm',
  'sh',
  'sleep',
  'touch',
  'true',
  'wc',
];

/**
 * Writes `<dir>/rootfs.tar` (staged in `<dir>/busybox-rootfs`) and returns its path: bin/busybox
 * (static: the image has no libc) + applet symlinks, etc/passwd, etc/group, tmp (1777).
 * Deterministic (see deterministicTar), so the layer is the same every time.
 */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const busybox = whichTool('busybox');
  if (busybox === undefined) throw new Error('busybox not found (apt-get install -y busybox-static)');
  const root = join(dir, 'busybox-rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'tmp'));
  await chmod(root, 0o755);
  await chmod(join(root, 'bin'), 0o755);
  await chmod(join(root, 'etc'), 0o755);
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(busybox, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) await symlink('busybox', join(root, 'bin', applet));
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await chmod(join(root, 'etc', 'passwd'), 0o644);
  await chmod(join(root, 'etc', 'group'), 0o644);
  return deterministicTar(root, join(dir, 'rootfs.tar'));
}
