// `docker import`: a root filesystem tar (file, stdin or http(s) URL, compressed or not) becomes a
// one-layer image with no parent and a config made only of the `--change` instructions.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { fullName, parseReference } from '../oci/reference.js';
import { applyChanges, ChangeError, emptyContainerConfig } from './changes.js';
import { DaemonError } from './images.js';
import { createImage } from './new-image.js';
import { hostPlatform, type Platform, parsePlatform } from './platform.js';
import type { LocalStore } from './store.js';

export interface ImportOptions {
  /** `-` (stdin), an `http://`/`https://` URL, or a local file. */
  source: string;
  /** REPOSITORY[:TAG]; the tag defaults to latest. */
  repository?: string;
  changes?: readonly string[];
  message?: string;
  /** `os/arch[/variant]`; the host's by default. */
  platform?: string;
  /** Where `-` reads from. */
  stdin: Readable;
}

/** Whether docker passes `source` to the daemon as a URL to download (only http and https). */
export function isUrlSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** The tar to import: downloaded (streamed) for a URL, else the file or stdin. */
async function openSource(options: ImportOptions): Promise<Readable> {
  const { source } = options;
  if (source === '-') return options.stdin;
  if (isUrlSource(source)) {
    const response = await request(source, { method: 'GET' });
    if (response.statusCode < 200 || response.statusCode >= 300) {
      response.body.resume();
      throw new DaemonError(`Get "${source}": unexpected status ${response.statusCode}`);
    }
    return response.body;
  }
  const file = createReadStream(source);
  // Surface "no such file" before anything else happens, as the docker CLI opens the file first.
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', (err) =>
      reject(
        new Error(
          `open ${source}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : err.message}`,
        ),
      ),
    );
  });
  return file;
}

/** Imports the tar and returns the new image ID (`sha256:…`). */
export async function importImage(store: LocalStore, options: ImportOptions): Promise<string> {
  let tag: { name: string; tag: string } | undefined;
  if (options.repository !== undefined && options.repository !== '') {
    const ref = parseReference(options.repository);
    if (ref.digest !== undefined) throw new DaemonError('cannot import digest reference');
    tag = { name: fullName(ref), tag: ref.tag ?? 'latest' };
  }
  let platform: Platform = hostPlatform();
  if (options.platform !== undefined && options.platform !== '') platform = parsePlatform(options.platform);
  let config: ReturnType<typeof emptyContainerConfig>;
  try {
    config = applyChanges(emptyContainerConfig(), options.changes ?? []);
  } catch (err) {
    if (err instanceof ChangeError) throw new DaemonError(err.message);
    throw err;
  }
  const message =
    options.message !== undefined && options.message !== ''
      ? options.message
      : `Imported from ${isUrlSource(options.source) ? options.source : '-'}`;
  const layer = await openSource(options);
  return createImage(store, {
    layer,
    config: config as unknown as Record<string, unknown>,
    history: { comment: message },
    comment: message,
    os: platform.os,
    architecture: platform.architecture,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    ...(tag ? { tag } : {}),
  });
}
