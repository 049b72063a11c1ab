// For container tests: the busybox rootfs (rootfs.ts) imported into a Wharf store, the wharf CLI on
// that store, and the entries of tars and saved images.
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { busyboxRootfsTar } from './rootfs.js';
import { WHARF_BIN } from './server.js';
import { type RunOptions, type RunResult, removeTmpDir, run, runOk, tmpDir } from './tools.js';

/**
 * `wharf import` of the busybox rootfs (with CMD ["/bin/sh"], as the real busybox image has) into
 * the store at `root`, tagged `ref`; returns the image ID (`sha256:…`).
 */
export async function importBusybox(root: string, ref: string): Promise<string> {
  const dir = await tmpDir('wharf-busybox');
  try {
    const tar = await busyboxRootfsTar(dir);
    return (await wharfIn(root).ok(['import', '--change', 'CMD ["/bin/sh"]', tar, ref])).trim();
  } finally {
    await removeTmpDir(dir);
  }
}

/** The wharf CLI on one store. */
export interface Wharf {
  /** Runs `wharf ARGS` (whatever its exit code). */
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Like run(), but throws (with stderr) when the exit code is not 0; returns stdout. */
  ok(args: string[], opts?: RunOptions): Promise<string>;
}

/** Command groups whose subcommand is the command that takes `--root` (`wharf container inspect`). */
const GROUPS = new Set(['container', 'image', 'system', 'volume']);

/**
 * The wharf CLI on the store at `root`, or at `root()` when called (for a store made in beforeAll).
 * `--root` goes right after the command words (`run`, `container inspect`): later options may
 * belong to the container's command. `defaults` apply to every call (a timeout, say).
 */
export function wharfIn(root: string | (() => string), defaults: RunOptions = {}): Wharf {
  const argv = (args: string[]) => {
    const words = GROUPS.has(args[0] ?? '') ? 2 : 1;
    const store = typeof root === 'string' ? root : root();
    return [WHARF_BIN, ...args.slice(0, words), '--root', store, ...args.slice(words)];
  };
  return {
    run: (args, opts = {}) => run(process.execPath, argv(args), { ...defaults, ...opts }),
    ok: async (args, opts = {}) => (await runOk(process.execPath, argv(args), { ...defaults, ...opts })).stdout,
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
