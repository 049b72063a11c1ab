// `wharf volume create|ls|inspect|rm|prune`, as in docker.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import {
  createVolume,
  getVolume,
  listVolumes,
  removeVolume,
  type Volume,
  volumeUsers,
} from '../engine/containers/volumes.js';
import { withLocalStore } from '../engine/store.js';
import { humanSize } from '../engine/units.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { formatTable } from './table.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function parseLabels(values: string[]): Record<string, string> {
  return Object.fromEntries(
    values.map((v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? [v, ''] : [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

function inspectJson(v: Volume): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt.replace(/\.\d+Z$/, 'Z'),
    Driver: 'local',
    Labels: Object.keys(v.labels).length > 0 ? v.labels : null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: null,
    Scope: 'local',
  };
}

/** Bytes in a directory tree (what removing it frees). */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeSize(path);
    else total += (await lstat(path)).size;
  }
  return total;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function volumeGroup(): Command {
  const group = new Command('volume').description('manage volumes');
  group.addCommand(
    withRoot(new Command('create').description('create a volume'))
      .argument('[name]')
      .option('--label <key=value>', 'set metadata for a volume', collect, [])
      .action((name: string | undefined, flags: RootOptions & { label: string[] }) =>
        run(async () => {
          const v = await withLocalStore(flags.root, (store) =>
            createVolume(store, { ...(name !== undefined ? { name } : {}), labels: parseLabels(flags.label) }),
          );
          process.stdout.write(`${v.name}\n`);
        }, true),
      ),
  );
  group.addCommand(
    withRoot(new Command('ls').alias('list').description('list volumes'))
      .option('-q, --quiet', 'only display volume names')
      .action((flags: RootOptions & { quiet?: boolean }) =>
        run(async () => {
          const volumes = await withLocalStore(flags.root, (store) => listVolumes(store));
          if (flags.quiet) process.stdout.write(volumes.map((v) => `${v.name}\n`).join(''));
          else
            process.stdout.write(
              formatTable(
                ['DRIVER', 'VOLUME NAME'],
                volumes.map((v) => ['local', v.name]),
              ),
            );
        }, true),
      ),
  );
  group.addCommand(
    withRoot(new Command('inspect').description('display detailed information on one or more volumes'))
      .argument('<names...>')
      .action((names: string[], flags: RootOptions) =>
        run(async () => {
          const volumes = await withLocalStore(flags.root, (store) =>
            Promise.all(names.map((n) => getVolume(store, n))),
          );
          process.stdout.write(`${JSON.stringify(volumes.map(inspectJson), null, 4)}\n`);
        }, true),
      ),
  );
  group.addCommand(
    withRoot(new Command('rm').alias('remove').description('remove one or more volumes'))
      .argument('<names...>')
      .option('-f, --force', 'force the removal of one or more volumes')
      .action((names: string[], flags: RootOptions & { force?: boolean }) =>
        run(async () => {
          const errors: string[] = [];
          await withLocalStore(flags.root, async (store) => {
            for (const name of names) {
              try {
                await removeVolume(store, name, { force: flags.force === true });
                process.stdout.write(`${name}\n`);
              } catch (err) {
                errors.push(err instanceof Error ? err.message : String(err));
              }
            }
          });
          if (errors.length > 0) throw new Error(errors.join('\n'));
        }, true),
      ),
  );
  group.addCommand(
    withRoot(new Command('prune').description('remove unused local volumes'))
      .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
      .option('-f, --force', 'do not prompt for confirmation')
      .action((flags: RootOptions & { all?: boolean; force?: boolean }) =>
        run(async () => {
          if (!flags.force) {
            const what = flags.all
              ? 'all local volumes not used by at least one container'
              : 'anonymous local volumes not used by at least one container';
            if (!(await confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `))) {
              process.stderr.write('volume prune has been cancelled\n');
              return;
            }
          }
          const { deleted, reclaimed } = await withLocalStore(flags.root, async (store) => {
            const users = await volumeUsers(store);
            const out: string[] = [];
            let bytes = 0;
            for (const v of await listVolumes(store)) {
              if ((users.get(v.name)?.length ?? 0) > 0 || (!flags.all && !v.anonymous)) continue;
              bytes += await treeSize(v.mountpoint);
              await removeVolume(store, v.name);
              out.push(v.name);
            }
            return { deleted: out, reclaimed: bytes };
          });
          if (deleted.length > 0) process.stdout.write(`Deleted Volumes:\n${deleted.map((n) => `${n}\n`).join('')}\n`);
          process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed, 4)}\n`);
        }, true),
      ),
  );
  return group;
}
