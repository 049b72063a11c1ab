// A busybox root filesystem built from Debian's busybox-static, for container tests: the same tar
// can be imported into Wharf and into the test Docker engine, so both start from one base.
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WHARF_BIN } from './server.js';
import { removeTmpDir, runOk, tmpDir, whichTool } from './tools.js';

/** Busybox applets linked into the rootfs's /bin. */
export const BUSYBOX_APPLETS = [
  'cat',
  'chmod',
  'cp',
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
 * Writes `<dir>/rootfs.tar`: bin/busybox (static) + applet symlinks, etc/passwd, etc/group, tmp.
 * Deterministic (sorted, mtime 0, owned by root), so the layer is the same every time.
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
  const tarFile = join(dir, 'rootfs.tar');
  await runOk('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    root,
    '-cf',
    tarFile,
    '.',
  ]);
  return tarFile;
}

/**
 * `wharf import` of the busybox rootfs (with CMD ["/bin/sh"], as the real busybox image has) into
 * the store at `root`, tagged `ref`; returns the image ID (`sha256:…`).
 */
export async function importBusybox(root: string, ref: string): Promise<string> {
  const dir = await tmpDir('wharf-busybox');
  try {
    const tar = await busyboxRootfsTar(dir);
    const args = [WHARF_BIN, 'import', '--root', root, '--change', 'CMD ["/bin/sh"]', tar, ref];
    return (await runOk(process.execPath, args)).stdout.trim();
  } finally {
    await removeTmpDir(dir);
  }
}
