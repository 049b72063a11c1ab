import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The local image store's root directory: `--root`, else `WHARF_ROOT`, else `/var/lib/wharf`
 * for root, else `$XDG_DATA_HOME/wharf` (default `~/.local/share/wharf`).
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.WHARF_ROOT;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/wharf';
  const xdg = env.XDG_DATA_HOME;
  const base = xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'wharf');
}

/** Where things live under the root. */
export const rootLayout = {
  content: (root: string) => join(root, 'content'),
  database: (root: string) => join(root, 'engine.db'),
};
