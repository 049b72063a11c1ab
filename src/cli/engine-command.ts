// What every image-tool command shares: the --root option and Docker's way of reporting errors.
import type { Command } from 'commander';
import { DaemonError } from '../engine/images.js';
import { InvalidReferenceError } from '../oci/reference.js';

export interface RootOptions {
  root?: string;
}

export function withRoot(command: Command): Command {
  return command.option('--root <dir>', 'local image store (also WHARF_ROOT)');
}

/**
 * Runs a command body; errors end it with exit status 1 and one line on stderr, in Docker's
 * wording: `Error response from daemon: …` for what the daemon would answer, bare for what the
 * docker CLI itself checks (reference syntax).
 */
export async function run(fn: () => Promise<void>, daemonErrors: boolean): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const fromDaemon = err instanceof DaemonError || (daemonErrors && !(err instanceof InvalidReferenceError));
    process.stderr.write(fromDaemon ? `Error response from daemon: ${message}\n` : `${message}\n`);
    process.exitCode = 1;
  }
}
