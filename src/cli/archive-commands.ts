// The docker-compatible archive commands: save, load, import (also as `wharf image save|load|import`).
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import { importImage, isUrlSource } from '../engine/import.js';
import { loadImages } from '../engine/load.js';
import { saveImages } from '../engine/save.js';
import { withLocalStore } from '../engine/store.js';
import { writeArchive } from './archive-output.js';
import { type RootOptions, run, withRoot } from './engine-command.js';

/** The docker CLI's own check before `load` reads a terminal. */
export const LOAD_FROM_TTY_ERROR = 'requested load from stdin, but stdin is empty';

interface SaveOptions extends RootOptions {
  output?: string;
}

function saveCommand(): Command {
  return withRoot(
    new Command('save')
      .description('save one or more images to a tar archive (streamed to STDOUT by default)')
      .argument('<image...>', 'IMAGE')
      .option('-o, --output <file>', 'write to a file, instead of STDOUT'),
  ).action((names: string[], opts: SaveOptions) =>
    run(async () => {
      await writeArchive(opts.output, (out) => withLocalStore(opts.root, (store) => saveImages(store, names, out)));
    }, false),
  );
}

interface LoadOptions extends RootOptions {
  input?: string;
  quiet?: boolean;
}

function loadCommand(): Command {
  return withRoot(
    new Command('load')
      .description('load an image from a tar archive or STDIN')
      .option('-i, --input <file>', 'read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'suppress the load output'),
  ).action((opts: LoadOptions) =>
    run(async () => {
      let input: Readable;
      if (opts.input !== undefined) {
        input = createReadStream(opts.input);
        const file = opts.input;
        await new Promise<void>((resolve, reject) => {
          input.once('open', () => resolve());
          input.once('error', (err: NodeJS.ErrnoException) =>
            reject(new Error(`open ${file}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`)),
          );
        });
      } else {
        if (process.stdin.isTTY) throw new Error(LOAD_FROM_TTY_ERROR);
        input = process.stdin;
      }
      // Docker's -q hides the progress bars only; the "Loaded image" lines are always printed.
      const result = await withLocalStore(opts.root, (store) => loadImages(store, input));
      process.stdout.write(result.lines.map((l) => `${l}\n`).join(''));
    }, false),
  );
}

interface ImportCliOptions extends RootOptions {
  change: string[];
  message?: string;
  platform?: string;
}

function importCommand(): Command {
  return withRoot(
    new Command('import')
      .description('import the contents from a tarball to create a filesystem image')
      .argument('<source>', 'file|URL|- (STDIN)')
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option(
        '-c, --change <change>',
        'apply Dockerfile instruction to the created image',
        (v: string, all: string[]) => [...all, v],
        [],
      )
      .option('-m, --message <message>', 'set commit message for imported image')
      .option('--platform <platform>', 'set platform if server is multi-platform capable'),
  ).action(async (source: string, repository: string | undefined, opts: ImportCliOptions) => {
    // The docker CLI opens a local file itself: its errors are not the daemon's.
    if (source !== '-' && !isUrlSource(source)) {
      await run(async () => {
        await access(source).catch((err: NodeJS.ErrnoException) => {
          throw new Error(`open ${source}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
        });
      }, false);
      if (process.exitCode) return;
    }
    await run(async () => {
      const id = await withLocalStore(opts.root, (store) =>
        importImage(store, {
          source,
          ...(repository !== undefined ? { repository } : {}),
          changes: opts.change,
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
          stdin: process.stdin,
        }),
      );
      process.stdout.write(`${id}\n`);
    }, true);
  });
}

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [saveCommand(), loadCommand(), importCommand()];
}

/** The same commands under `wharf image …`. */
export function imageSubcommands(): Command[] {
  return [saveCommand(), loadCommand(), importCommand()];
}
