// The image-tool commands that talk to registries: pull (login, logout and push to come).
import { Command } from 'commander';
import { parsePlatform } from '../engine/platform.js';
import { pullImage } from '../engine/pull.js';
import { withLocalStore } from '../engine/store.js';
import { parseReference } from '../oci/reference.js';
import { type RootOptions, run, withRoot } from './engine-command.js';

/** `wharf pull`. */
export function pullCommand(): Command {
  return withRoot(
    new Command('pull')
      .description('download an image from a registry')
      .argument('<name>', 'NAME[:TAG|@DIGEST]')
      .option('--platform <platform>', 'os/arch[/variant] to pick from a multi-platform image')
      .option('-q, --quiet', 'print only the image reference'),
  ).action(async (name: string, opts: RootOptions & { platform?: string; quiet?: boolean }) => {
    await run(async () => {
      const platformText = opts.platform ?? process.env.DOCKER_DEFAULT_PLATFORM;
      const platform = platformText ? parsePlatform(platformText) : undefined;
      parseReference(name); // reference errors come before anything else, as in docker
      await withLocalStore(opts.root, async (store) => {
        const result = await pullImage(store, name, {
          ...(platform ? { platform } : {}),
          onEvent: (e) => {
            if (!opts.quiet) process.stdout.write(`${e.id !== undefined ? `${e.id}: ` : ''}${e.status}\n`);
          },
        });
        process.stdout.write(`${result.reference}\n`);
      });
    }, true);
  });
}

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [pullCommand()];
}

/** The same commands under `wharf image …`. */
export function imageSubcommands(): Command[] {
  return [pullCommand()];
}
