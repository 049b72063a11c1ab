// `runc exec` in the foreground: a new process in a running container, with this process's
// stdio. With a TTY, runc makes the process's console and relays it to this terminal.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { runcBinary } from './runc.js';

export interface ExecProcess {
  args: string[];
  env: string[];
  uid: number;
  gid: number;
  additionalGids: number[];
  cwd: string;
  tty: boolean;
  /** Forward stdin (otherwise the process gets /dev/null). */
  stdin: boolean;
}

/** Resolves with the process's exit code (128 + signal when killed). */
export function runcExec(stateRoot: string, id: string, p: ExecProcess): Promise<number> {
  const args = ['--root', stateRoot, 'exec'];
  if (p.tty) args.push('--tty');
  args.push('--user', `${p.uid}:${p.gid}`);
  for (const g of p.additionalGids) args.push('--additional-gids', String(g));
  args.push('--cwd', p.cwd);
  for (const e of p.env) args.push('--env', e);
  args.push(id, ...p.args);
  const child = spawn(runcBinary(), args, { stdio: [p.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
