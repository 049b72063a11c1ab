// The container commands: create, run, start, stop, kill, restart, rm, ps, logs, wait, and the
// hidden container-monitor that `start` spawns.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { type CreateOptions, createContainer } from '../engine/containers/create.js';
import { execInContainer } from '../engine/containers/exec.js';
import { inspectContainer } from '../engine/containers/inspect.js';
import { containerLayout } from '../engine/containers/layout.js';
import {
  killContainer,
  reconcile,
  startContainer,
  stopContainer,
  waitStopped,
} from '../engine/containers/lifecycle.js';
import { runMonitor } from '../engine/containers/monitor.js';
import { type Container, getContainer, isActive, listContainers } from '../engine/containers/records.js';
import { removeContainer } from '../engine/containers/remove.js';
import { restoreContainers } from '../engine/containers/restore.js';
import { NoSuchImageError, resolveImage } from '../engine/images.js';
import { type LocalStore, withLocalStore } from '../engine/store.js';
import { goTimeString, humanDuration } from '../engine/units.js';
import { requireRoot, runcBinary } from '../runtime/runc.js';
import { attachStdio, connectAttach } from './attach.js';
import { commandText, statusText } from './container-text.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { formatRows, parseOutputFormat, type TemplateObject } from './format.js';
import { volumeGroup } from './volume-commands.js';

/** What every container command needs before touching the store: root, and runc. */
function requireContainers(): void {
  requireRoot();
  runcBinary();
}

const collect = (value: string, previous: string[]) => [...previous, value];

interface CreateFlags extends RootOptions {
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  volume: string[];
  network: string;
  restart: string;
  rm?: boolean;
  tty?: boolean;
  interactive?: boolean;
  detach?: boolean;
}

function createFlags(command: Command): Command {
  return withRoot(command)
    .argument('<image>', 'IMAGE')
    .argument('[command...]', 'COMMAND [ARG...]')
    .passThroughOptions()
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect, [])
    .option('--env-file <file>', 'read in a file of environment variables', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'username or UID')
    .option('-h, --hostname <name>', 'container host name')
    .option('--entrypoint <command>', 'overwrite the default ENTRYPOINT of the image')
    .option('-v, --volume <spec>', 'bind mount a volume (NAME:/path, /host:/path, /path; :ro)', collect, [])
    .option('--network <mode>', 'network: none (default) or host', 'none')
    .option('--restart <policy>', 'restart policy: no, always, on-failure[:max-retries], unless-stopped', 'no')
    .option('--rm', 'automatically remove the container when it exits')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-i, --interactive', 'keep STDIN open even if not attached');
}

function createOptions(args: string[], flags: CreateFlags): CreateOptions {
  return {
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    args,
    env: flags.env,
    envFiles: flags.envFile,
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
    ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint } : {}),
    volumes: flags.volume,
    network: flags.network,
    restart: flags.restart,
    autoRemove: flags.rm === true,
    tty: flags.tty === true,
    interactive: flags.interactive === true,
  };
}

/** The image to run: found locally, else pulled first (Docker's `Unable to find image … locally`). */
async function imageFor(store: LocalStore, ref: string): Promise<string> {
  try {
    return await resolveImage(store.db, ref);
  } catch (err) {
    if (!(err instanceof NoSuchImageError)) throw err;
    const shown = ref.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
    process.stderr.write(`Unable to find image '${shown}' locally\n`);
    // Loaded only here: the registry client (undici, zod) would slow every `wharf ps`.
    const { pullImage } = await import('../engine/pull.js');
    const pulled = await pullImage(store, ref, {
      onEvent: (e) => process.stderr.write(`${e.id !== undefined ? `${e.id}: ` : ''}${e.status}\n`),
    });
    return pulled.imageId;
  }
}

async function create(store: LocalStore, image: string, args: string[], flags: CreateFlags): Promise<Container> {
  const imageId = await imageFor(store, image);
  return createContainer(store, imageId, image, createOptions(args, flags));
}

/** Runs a started container attached: stdio through the monitor, exit status passed on. */
async function attachAndStart(store: LocalStore, container: Container, stdin: boolean): Promise<void> {
  const tty = container.config.Tty;
  const size = tty && process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : {};
  await startContainer(store, container, { waitAttach: true, ...size });
  const socket = await connectAttach(containerLayout.socket(store.root, container.id));
  const reported = await attachStdio(socket, { stdin, tty });
  // A monitor that died without reporting: the recorded state's exit code (after reconciling), never 0.
  process.exitCode = reported ?? (await waitStopped(store, container.id, 10_000)).exitCode ?? 137;
  // Like docker run --rm: return once the container is gone, not merely exited.
  if (container.hostConfig.AutoRemove) await waitRemoved(store, container.id);
}

async function waitRemoved(store: LocalStore, id: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (!(await store.db.selectFrom('containers').select('id').where('id', '=', id).executeTakeFirst())) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function createCommand(): Command {
  return createFlags(new Command('create').description('create a new container')).action(
    (image: string, args: string[], flags: CreateFlags) =>
      run(async () => {
        requireContainers();
        const c = await withLocalStore(flags.root, (store) => create(store, image, args, flags));
        process.stdout.write(`${c.id}\n`);
      }, true),
  );
}

function runCommand(): Command {
  return createFlags(new Command('run').description('create and run a new container from an image'))
    .option('-d, --detach', 'run the container in the background and print its ID')
    .action((image: string, args: string[], flags: CreateFlags) =>
      run(async () => {
        requireContainers();
        await withLocalStore(flags.root, async (store) => {
          const c = await create(store, image, args, flags);
          if (flags.detach) {
            await startContainer(store, c);
            process.stdout.write(`${c.id}\n`);
            return;
          }
          await attachAndStart(store, c, flags.interactive === true);
        });
      }, true),
    );
}

function startCommand(): Command {
  return withRoot(new Command('start').description('start one or more stopped containers'))
    .argument('<containers...>')
    .option('-a, --attach', 'attach STDOUT/STDERR and forward signals')
    .option('-i, --interactive', "attach container's STDIN")
    .action((refs: string[], flags: RootOptions & { attach?: boolean; interactive?: boolean }) =>
      run(async () => {
        await withLocalStore(flags.root, async (store) => {
          for (const ref of refs) {
            const c = await getContainer(store.db, ref);
            if (flags.attach || flags.interactive) {
              await attachAndStart(store, c, flags.interactive === true);
              return;
            }
            await startContainer(store, c);
            process.stdout.write(`${ref}\n`);
          }
        });
      }, true),
    );
}

/** Runs `fn` for each container named, printing the name on success and errors at the end (Docker's way). */
async function eachContainer(
  refs: string[],
  root: string | undefined,
  fn: (store: LocalStore, c: Container) => Promise<void>,
): Promise<void> {
  const errors: string[] = [];
  await withLocalStore(root, async (store) => {
    for (const ref of refs) {
      try {
        await fn(store, await getContainer(store.db, ref));
        process.stdout.write(`${ref}\n`);
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  });
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(`Error response from daemon: ${e}\n`);
    process.exitCode = 1;
  }
}

function stopCommand(): Command {
  return withRoot(new Command('stop').description('stop one or more running containers'))
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .action((refs: string[], flags: RootOptions & { time: string }) =>
      eachContainer(refs, flags.root, (store, c) => stopContainer(store, c, Number(flags.time))),
    );
}

function killCommand(): Command {
  return withRoot(new Command('kill').description('kill one or more running containers'))
    .argument('<containers...>')
    .option('-s, --signal <signal>', 'signal to send to the container', 'KILL')
    .action((refs: string[], flags: RootOptions & { signal: string }) =>
      eachContainer(refs, flags.root, (store, c) => killContainer(store, c, flags.signal.replace(/^SIG/, ''))),
    );
}

function restartCommand(): Command {
  return withRoot(new Command('restart').description('restart one or more containers'))
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .action((refs: string[], flags: RootOptions & { time: string }) =>
      eachContainer(refs, flags.root, async (store, c) => {
        await stopContainer(store, c, Number(flags.time));
        await startContainer(store, await getContainer(store.db, c.id));
      }),
    );
}

function rmCommand(): Command {
  return withRoot(new Command('rm').description('remove one or more containers'))
    .argument('<containers...>')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action((refs: string[], flags: RootOptions & { force?: boolean; volumes?: boolean }) =>
      eachContainer(refs, flags.root, async (store, c) => {
        const current = await reconcile(store, c);
        if (isActive(current)) {
          if (!flags.force) {
            throw new Error(
              `cannot remove container "/${c.name}": container is ${current.status}: stop the container before removing or force remove`,
            );
          }
          await stopContainer(store, current, 0);
        }
        await removeContainer(store, await getContainer(store.db, c.id), { volumes: flags.volumes === true });
      }),
    );
}

const PS_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
const PS_HEADERS: TemplateObject = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Status: 'STATUS',
  State: 'STATE',
  Ports: 'PORTS',
  Names: 'NAMES',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  Labels: 'LABELS',
};

function psCommand(name = 'ps'): Command {
  return withRoot(new Command(name).description('list containers'))
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('--no-trunc', "don't truncate output")
    .option('-f, --filter <filter>', 'filter output (status=, name=, id=, exited=)', collect, [])
    .option('--format <format>', 'table, json, or a Go template ({{.ID}} {{.Names}} {{.Status}}…)')
    .action(
      (flags: RootOptions & { all?: boolean; quiet?: boolean; trunc?: boolean; filter: string[]; format?: string }) =>
        run(async () => {
          const containers = await withLocalStore(flags.root, async (store) =>
            Promise.all((await listContainers(store.db)).map((c) => reconcile(store, c))),
          );
          const filters = flags.filter.map((f) => {
            const eq = f.indexOf('=');
            const key = eq < 0 ? f : f.slice(0, eq);
            if (!['status', 'name', 'id', 'exited'].includes(key)) throw new Error(`invalid filter '${key}'`);
            return { key, value: eq < 0 ? '' : f.slice(eq + 1) };
          });
          const shown = containers.filter((c) => {
            const running = isActive(c);
            if (!flags.all && filters.length === 0 && !running) return false;
            return filters.every(({ key, value }) => {
              if (key === 'status') return c.status === value;
              if (key === 'name') return c.name.includes(value);
              if (key === 'id') return c.id.startsWith(value);
              return c.status === 'exited' && String(c.exitCode) === value;
            });
          });
          const trunc = flags.trunc !== false;
          if (flags.quiet) {
            process.stdout.write(shown.map((c) => `${trunc ? c.id.slice(0, 12) : c.id}\n`).join(''));
            return;
          }
          const now = Date.now();
          const rows = shown.map(
            (c): TemplateObject => ({
              ID: trunc ? c.id.slice(0, 12) : c.id,
              Image: c.imageRef,
              Command: commandText(c, trunc),
              CreatedAt: goTimeString(Date.parse(c.created)),
              RunningFor: `${humanDuration(now - Date.parse(c.created))} ago`,
              Status: statusText(c, now),
              State: c.status,
              Ports: '',
              Names: c.name,
              Mounts: c.hostConfig.Mounts.map((m) => m.Name ?? m.Source).join(','),
              Networks: c.hostConfig.NetworkMode,
              Labels: Object.entries(c.config.Labels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
            }),
          );
          process.stdout.write(formatRows(parseOutputFormat(flags.format, PS_TABLE), rows, PS_HEADERS));
        }, true),
    );
}

/** Prints the json-file log from `offset`; returns the new offset. */
async function printLog(file: string, offset: number): Promise<number> {
  const size = (await stat(file).catch(() => undefined))?.size ?? 0;
  if (size <= offset) return offset;
  let pending = '';
  let consumed = offset;
  for await (const chunk of createReadStream(file, { start: offset, end: size - 1, encoding: 'utf8' })) {
    pending += chunk as string;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      consumed += Buffer.byteLength(line) + 1;
      if (line === '') continue;
      const record = JSON.parse(line) as { log: string; stream: string };
      (record.stream === 'stderr' ? process.stderr : process.stdout).write(record.log);
    }
  }
  return consumed;
}

function logsCommand(): Command {
  return withRoot(new Command('logs').description('fetch the logs of a container'))
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .action((ref: string, flags: RootOptions & { follow?: boolean }) =>
      run(async () => {
        await withLocalStore(flags.root, async (store) => {
          const c = await getContainer(store.db, ref);
          const file = containerLayout.log(store.root, c.id);
          let offset = await printLog(file, 0);
          while (flags.follow) {
            const now = await reconcile(store, await getContainer(store.db, c.id));
            const active = now.status === 'running' || now.status === 'restarting';
            await new Promise((r) => setTimeout(r, 100));
            offset = await printLog(file, offset);
            if (!active) break;
          }
        });
      }, true),
    );
}

function waitCommand(): Command {
  return withRoot(new Command('wait').description('block until containers stop, then print their exit codes'))
    .argument('<containers...>')
    .action((refs: string[], flags: RootOptions) =>
      run(async () => {
        await withLocalStore(flags.root, async (store) => {
          for (const ref of refs) {
            const c = await getContainer(store.db, ref);
            const done = await waitStopped(store, c.id);
            process.stdout.write(`${done.exitCode ?? 0}\n`);
          }
        });
      }, true),
    );
}

function execCommand(): Command {
  return withRoot(new Command('exec').description('execute a command in a running container'))
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect, [])
    .option('-u, --user <user[:group]>', 'username or UID')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .action(
      (
        ref: string,
        args: string[],
        flags: RootOptions & { interactive?: boolean; tty?: boolean; env: string[]; user?: string; workdir?: string },
      ) =>
        run(async () => {
          requireRoot();
          await withLocalStore(flags.root, async (store) => {
            const c = await getContainer(store.db, ref);
            process.exitCode = await execInContainer(store, c, {
              args,
              env: flags.env,
              ...(flags.user !== undefined ? { user: flags.user } : {}),
              ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
              tty: flags.tty === true,
              interactive: flags.interactive === true,
            });
          });
        }, true),
    );
}

function inspectCommand(): Command {
  return withRoot(new Command('inspect').description('display detailed information on one or more containers'))
    .argument('<containers...>')
    .option('-f, --format <format>', 'format the output using the given Go template')
    .action((refs: string[], flags: RootOptions & { format?: string }) =>
      run(async () => {
        const found = await withLocalStore(flags.root, async (store) => {
          const out: Record<string, unknown>[] = [];
          for (const ref of refs)
            out.push(inspectContainer(store, await reconcile(store, await getContainer(store.db, ref))));
          return out;
        });
        if (flags.format) {
          const rows = found as TemplateObject[];
          process.stdout.write(formatRows(parseOutputFormat(flags.format, ''), rows, {}));
          return;
        }
        process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      }, true),
    );
}

function restoreCommand(): Command {
  return withRoot(
    new Command('restore').description('after a reboot: restart the containers whose restart policy says so'),
  ).action((flags: RootOptions) =>
    run(async () => {
      requireRoot();
      const started = await withLocalStore(flags.root, (store) => restoreContainers(store));
      for (const c of started) process.stdout.write(`${c.name}\n`);
    }, true),
  );
}

/** Hidden: the per-container monitor process, spawned by start. */
function monitorCommand(): Command {
  return withRoot(new Command('container-monitor'))
    .argument('<id>')
    .option('--wait-attach')
    .option('--rows <n>')
    .option('--cols <n>')
    .action(async (id: string, flags: RootOptions & { waitAttach?: boolean; rows?: string; cols?: string }) => {
      await withLocalStore(flags.root, (store) =>
        runMonitor(store, id, {
          waitAttach: flags.waitAttach === true,
          ...(flags.rows ? { rows: Number(flags.rows) } : {}),
          ...(flags.cols ? { cols: Number(flags.cols) } : {}),
        }),
      );
    });
}

export function commands(): Command[] {
  return [
    createCommand(),
    runCommand(),
    startCommand(),
    stopCommand(),
    killCommand(),
    restartCommand(),
    rmCommand(),
    psCommand(),
    logsCommand(),
    waitCommand(),
    execCommand(),
    monitorCommand(),
    containerGroup(),
    volumeGroup(),
  ];
}

/** `wharf container …`: the same commands, as in docker. */
function containerGroup(): Command {
  const group = new Command('container').description('manage containers').enablePositionalOptions();
  for (const c of [
    createCommand(),
    runCommand(),
    startCommand(),
    stopCommand(),
    killCommand(),
    restartCommand(),
    rmCommand(),
    psCommand('ls'),
    logsCommand(),
    waitCommand(),
    execCommand(),
    inspectCommand(),
    restoreCommand(),
  ]) {
    group.addCommand(c);
  }
  return group;
}
