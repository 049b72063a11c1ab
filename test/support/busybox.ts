// A busybox root filesystem built from Debian's busybox-static, for container tests: the same tar
// can be imported into Wharf and into the test Docker engine, so both start from one base.
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { WHARF_BIN } from './server.js';
import { type RunOptions, removeTmpDir, run, runOk, tmpDir, whichTool } from './tools.js';

/** Busybox applets linked into the rootfs's /bin. */
export const BUSYBOX_APPLETS = [
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

/** Runs the wharf CLI on the store at `root` (`--root` goes right after the command name). */
export function wharfIn(root: string) {
  const argv = (args: string[]) => [WHARF_BIN, args[0] as string, '--root', root, ...args.slice(1)];
  return {
    run: (args: string[], opts: RunOptions = {}) => run(process.execPath, argv(args), opts),
    ok: async (args: string[], opts: RunOptions = {}) => (await runOk(process.execPath, argv(args), opts)).stdout,
  };
}

export interface TarEntryInfo {
  name: string;
  type: string;
  size: number;
  mode: number;
  linkname: string | null;
}

/** The entries of a tar file, in order. */
export async function tarEntries(file: string): Promise<TarEntryInfo[]> {
  const out: TarEntryInfo[] = [];
  const x = extract();
  x.on('entry', (h, stream, next) => {
    out.push({
      name: h.name,
      type: h.type ?? 'file',
      size: h.size ?? 0,
      mode: h.mode ?? 0,
      linkname: h.linkname ?? null,
    });
    stream.on('end', () => next());
    stream.resume();
  });
  await pipeline(createReadStream(file), x);
  return out;
}

export interface SavedImage {
  config: {
    history?: { created_by?: string; comment?: string; author?: string; empty_layer?: boolean }[];
    rootfs: { diff_ids: string[] };
    config?: Record<string, unknown>;
  };
  /** Each layer's entries, bottom first. */
  layers: TarEntryInfo[][];
}

/** Unpacks a `docker save`/`wharf save` archive of one image into `dir` and reads it. */
export async function readSavedImage(archive: string, dir: string): Promise<SavedImage> {
  await mkdir(dir, { recursive: true });
  await runOk('tar', ['-xf', archive, '-C', dir]);
  const [manifest] = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    Config: string;
    Layers: string[];
  }[];
  if (!manifest) throw new Error(`no image in ${archive}`);
  const config = JSON.parse(await readFile(join(dir, manifest.Config), 'utf8')) as SavedImage['config'];
  const layers: TarEntryInfo[][] = [];
  for (const l of manifest.Layers) layers.push(await tarEntries(join(dir, l)));
  return { config, layers };
}
