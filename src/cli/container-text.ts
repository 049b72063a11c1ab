// How docker prints a container in tables (ps, system df -v): its STATUS and COMMAND columns.
import type { Container } from '../engine/containers/records.js';
import { humanDuration } from '../engine/units.js';

/** Docker's STATUS column. */
export function statusText(c: Container, now: number): string {
  const since = (iso: string | null) => humanDuration(now - (iso ? Date.parse(iso) : now));
  switch (c.status) {
    case 'running':
      return `Up ${since(c.startedAt)}`;
    case 'paused':
      return `Up ${since(c.startedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago`;
    case 'exited':
      return `Exited (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago`;
    case 'created':
      return 'Created';
    default:
      return c.status.charAt(0).toUpperCase() + c.status.slice(1);
  }
}

/** Docker's COMMAND column: the command, cut to 20 columns with …, quoted as Go's %q. */
export function commandText(c: Container, trunc: boolean): string {
  // As the daemon lists it: arguments holding a space in single quotes (moby daemon/list.go).
  const [path = '', ...args] = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  const command = [path, ...args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
  const shown = trunc && [...command].length > 20 ? `${[...command].slice(0, 19).join('')}…` : command;
  return JSON.stringify(shown);
}
