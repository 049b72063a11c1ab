// `wharf volume create|ls|inspect|rm|prune`, as in docker.
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
import { directorySize } from '../engine/usage.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { formatRows, parseOutputFormat, type TemplateObject } from './format.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const VOLUME_HEADERS: TemplateObject = {
  Availability: 'AVAILABILITY',
  Driver: 'DRIVER',
  Group: 'GROUP',
  Labels: 'LABELS',
  Links: 'LINKS',
  Mountpoint: 'MOUNTPOINT',
  Name: 'VOLUME NAME',
  Scope: 'SCOPE',
  Size: 'SIZE',
  Status: 'STATUS',
};

function parseLabels(values: string[]): Record<string, string> {
  return Object.fromEntries(
    values.map((v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? [v, ''] : [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

function inspectJson(v: Volume): TemplateObject {
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
      .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template ({{.Name}} {{.Mountpoint}}…)")
      .action((flags: RootOptions & { quiet?: boolean; format?: string }) =>
        run(async () => {
          const volumes = await withLocalStore(flags.root, (store) => listVolumes(store));
          if (flags.quiet) {
            process.stdout.write(volumes.map((v) => `${v.name}\n`).join(''));
            return;
          }
          // Docker's volume list fields; what it computes only for `system df` is N/A.
          const rows = volumes.map(
            (v): TemplateObject => ({
              Availability: 'N/A',
              Driver: 'local',
              Group: 'N/A',
              Labels: Object.entries(v.labels)
                .map(([k, value]) => `${k}=${value}`)
                .join(','),
              Links: 'N/A',
              Mountpoint: v.mountpoint,
              Name: v.name,
              Scope: 'local',
              Size: 'N/A',
              Status: 'N/A',
            }),
          );
          const format = parseOutputFormat(flags.format, 'table {{.Driver}}\t{{.Name}}');
          process.stdout.write(formatRows(format, rows, VOLUME_HEADERS));
        }, true),
      ),
  );
  group.addCommand(
    withRoot(new Command('inspect').description('display detailed information on one or more volumes'))
      .argument('<names...>')
      .option('-f, --format <format>', 'format the output using the given Go template')
      .action((names: string[], flags: RootOptions & { format?: string }) =>
        run(async () => {
          const volumes = await withLocalStore(flags.root, (store) =>
            Promise.all(names.map((n) => getVolume(store, n))),
          );
          const json = volumes.map(inspectJson);
          if (flags.format) {
            process.stdout.write(formatRows(parseOutputFormat(flags.format, ''), json as TemplateObject[], {}));
            return;
          }
          process.stdout.write(`${JSON.stringify(json, null, 4)}\n`);
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
              bytes += await directorySize(v.mountpoint);
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
