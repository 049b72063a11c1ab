#!/usr/bin/env node
import { Command } from 'commander';
import { imageCommand, imagesCommand, pullCommand, tagCommand } from './image-commands.js';
import { repoCommand } from './repo.js';
import { serveCommand } from './serve.js';
import { userCommand } from './user.js';

const program = new Command()
  .name('wharf')
  .description('Wharf: an OCI registry, a hub and a docker-compatible image tool')
  .version('0.1.0');

program.addCommand(serveCommand());
program.addCommand(userCommand());
program.addCommand(repoCommand());
program.addCommand(pullCommand());
program.addCommand(imagesCommand());
program.addCommand(tagCommand());
program.addCommand(imageCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`wharf: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
