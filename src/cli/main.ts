#!/usr/bin/env node
import module from 'node:module';
import { Command } from 'commander';

// V8's compile cache (Node >= 22.1): later starts skip compiling the command's modules again.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/** What a command module gives: its top-level commands, and those it also puts under `wharf image`. */
interface CommandModule {
  commands(): Command[];
  imageSubcommands?(): Command[];
}

function one(make: () => Command): CommandModule {
  return { commands: () => [make()] };
}

/**
 * The command modules, loaded only when their command runs: a long-running `wharf serve` must
 * not carry the image tool (undici, the engine) or the account tools in memory. Help loads all.
 */
const modules: { names: string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['serve'], load: async () => one((await import('./serve.js')).serveCommand) },
  { names: ['config'], load: async () => one((await import('./config-command.js')).configCommand) },
  { names: ['user'], load: async () => one((await import('./user.js')).userCommand) },
  { names: ['repo'], load: async () => one((await import('./repo.js')).repoCommand) },
  { names: ['usage'], load: async () => one((await import('./usage.js')).usageCommand) },
  { names: ['gc', 'fsck'], load: () => import('./gc-commands.js') },
  { names: ['migrate'], load: async () => one((await import('./migrate.js')).migrateCommand) },
  {
    names: ['migrate-storage'],
    load: async () => one((await import('./migrate-storage.js')).migrateStorageCommand),
  },
  { names: ['images', 'tag', 'rmi', 'history', 'inspect', 'system'], load: () => import('./image-commands.js') },
  { names: ['pull', 'push', 'login', 'logout'], load: () => import('./registry-commands.js') },
  { names: ['search'], load: () => import('./search-command.js') },
  // (`wharf completion` loads every module, as help does: the script lists every command.)
  { names: ['__complete'], load: () => import('./completion-commands.js') },
  { names: ['save', 'load', 'import'], load: () => import('./archive-commands.js') },
  { names: ['diff', 'commit', 'export'], load: () => import('./change-commands.js') },
  {
    names: [
      'create',
      'run',
      'start',
      'stop',
      'kill',
      'restart',
      'rm',
      'ps',
      'logs',
      'wait',
      'container',
      'container-monitor',
    ],
    load: () => import('./container-commands.js'),
  },
];

const program = new Command()
  .name('wharf')
  .description('Wharf: an OCI registry, a hub and a docker-compatible image tool')
  .version('0.1.0')
  // `wharf run IMAGE sh -c …`: options after the image belong to the container's command.
  .enablePositionalOptions();

const command = process.argv[2] ?? '';
const wanted = modules.filter((m) => m.names.includes(command));
// `wharf --version` needs no command module at all.
const versionOnly = command === '--version' || command === '-V';
const loaded = versionOnly ? [] : await Promise.all((wanted.length > 0 ? wanted : modules).map((m) => m.load()));
// Internal commands (spawned by wharf itself, or by the completion scripts) stay out of help.
const hidden = new Set(['container-monitor', '__complete']);
for (const m of loaded) for (const c of m.commands()) program.addCommand(c, { hidden: hidden.has(c.name()) });
if (wanted.length === 0) {
  // `wharf image …` (or help): the image commands again, grouped as in docker.
  const image = new Command('image').description('manage images');
  for (const m of loaded) for (const c of m.imageSubcommands?.() ?? []) image.addCommand(c);
  program.addCommand(image);
}

let finished = false;
program.parseAsync(process.argv).then(
  () => {
    finished = true;
  },
  (err: unknown) => {
    process.stderr.write(`wharf: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
// Node exits quietly (status 0) when nothing is left to wait for, even with a command still
// pending: that is a bug (a stream nobody ends), and must not look like success.
process.on('beforeExit', () => {
  if (finished) return;
  process.stderr.write('wharf: internal error: the command stopped before it finished\n');
  process.exitCode = 1;
});
