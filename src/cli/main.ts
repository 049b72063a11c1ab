#!/usr/bin/env node
import { Command } from 'commander';

/**
 * The command modules, loaded only when their command runs: a long-running `wharf serve` must
 * not carry the image tool (undici, the engine) or the account tools in memory. Help loads all.
 */
const modules: { names: string[]; load: () => Promise<Command[]> }[] = [
  { names: ['serve'], load: async () => [(await import('./serve.js')).serveCommand()] },
  { names: ['user'], load: async () => [(await import('./user.js')).userCommand()] },
  { names: ['repo'], load: async () => [(await import('./repo.js')).repoCommand()] },
  {
    names: ['pull', 'images', 'tag', 'image'],
    load: async () => {
      const m = await import('./image-commands.js');
      return [m.pullCommand(), m.imagesCommand(), m.tagCommand(), m.imageCommand()];
    },
  },
];

const program = new Command()
  .name('wharf')
  .description('Wharf: an OCI registry, a hub and a docker-compatible image tool')
  .version('0.1.0');

const wanted = modules.filter((m) => m.names.includes(process.argv[2] ?? ''));
for (const m of wanted.length > 0 ? wanted : modules) for (const command of await m.load()) program.addCommand(command);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`wharf: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
