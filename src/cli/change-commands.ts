import { Command } from 'commander';
import { commitContainer, commitTarget } from '../engine/containers/commit.js';
import { containerChanges } from '../engine/containers/diff.js';
import { exportContainer } from '../engine/containers/export.js';
import { getContainer } from '../engine/containers/records.js';
import { withLocalStore } from '../engine/store.js';
import { writeArchive } from './archive-output.js';
import { type RootOptions, run, withRoot } from './engine-command.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function diffCommand(): Command {
  return withRoot(
    new Command('diff').description("inspect changes to files or directories on a container's filesystem"),
  )
    .argument('<container>', 'CONTAINER')
    .action((ref: string, flags: RootOptions) =>
      run(async () => {
        const changes = await withLocalStore(flags.root, async (store) =>
          containerChanges(store, await getContainer(store.db, ref)),
        );
        process.stdout.write(changes.map((c) => `${c.kind} ${c.path}\n`).join(''));
      }, true),
    );
}

interface CommitFlags extends RootOptions {
  author?: string;
  message?: string;
  change: string[];
  pause?: boolean;
}

/** `--pause` and `--no-pause` both given (commander folds them into one value). */
function pauseConflict(): boolean {
  const args = process.argv.slice(2);
  const words = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined);
  const pause = words.some((w) => w === '-p' || w === '--pause');
  return pause && words.includes('--no-pause');
}

function commitCommand(): Command {
  return withRoot(new Command('commit').description("create a new image from a container's changes"))
    .argument('<container>', 'CONTAINER')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-a, --author <string>', 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-m, --message <string>', 'commit message')
    .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image', collect, [])
    .option('-p, --pause', 'pause container during commit (default true)')
    .option('--no-pause', 'disable pausing container during commit')
    .action((ref: string, repository: string | undefined, flags: CommitFlags) =>
      run(async () => {
        if (pauseConflict()) throw new Error('conflicting options: --no-pause and --pause cannot be used together');
        // Checked by the docker client before anything reaches the daemon.
        commitTarget(repository);
        const pause = flags.pause !== false;
        const id = await withLocalStore(flags.root, async (store) =>
          commitContainer(store, await getContainer(store.db, ref), {
            ...(repository !== undefined ? { repository } : {}),
            ...(flags.author !== undefined ? { author: flags.author } : {}),
            ...(flags.message !== undefined ? { comment: flags.message } : {}),
            changes: flags.change,
            pause,
          }),
        );
        process.stdout.write(`${id}\n`);
      }, false),
    );
}

function exportCommand(): Command {
  return withRoot(new Command('export').description("export a container's filesystem as a tar archive"))
    .argument('<container>', 'CONTAINER')
    .option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .action((ref: string, flags: RootOptions & { output?: string }) =>
      run(async () => {
        await writeArchive(flags.output, (out) =>
          withLocalStore(flags.root, async (store) => exportContainer(store, await getContainer(store.db, ref), out)),
        );
      }, false),
    );
}

export function commands(): Command[] {
  return [diffCommand(), commitCommand(), exportCommand()];
}

/** The same commands for `wharf container diff|commit|export`. */
export function containerSubcommands(): Command[] {
  return [diffCommand(), commitCommand(), exportCommand()];
}
