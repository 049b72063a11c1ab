// `exec`: a new process in a running container, through `runc exec` in the foreground. With a
// TTY, runc makes the process's console and relays it to this process's terminal.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { DaemonError } from '../engine/images.js';
import type { LocalStore } from '../engine/store.js';
import type { Container } from './containers.js';
import { containerLayout } from './layout.js';
import { reconcile } from './lifecycle.js';
import { runcBinary } from './runc.js';
import { resolveUser } from './user.js';

export interface ExecOptions {
  args: string[];
  env: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  interactive: boolean;
}

/** Runs the process with this process's stdio; resolves with its exit code. */
export async function execInContainer(store: LocalStore, container: Container, options: ExecOptions): Promise<number> {
  const current = await reconcile(store, container);
  if (current.status !== 'running') throw new DaemonError(`container ${container.id} is not running`);
  if (options.args.length === 0) throw new DaemonError('No exec command specified');
  const rootfs = containerLayout.rootfs(store.root, container.id);
  const user = await resolveUser(rootfs, options.user ?? container.config.User);
  const args = ['--root', containerLayout.runcRoot(store.root), 'exec'];
  if (options.tty) args.push('--tty');
  args.push('--user', `${user.uid}:${user.gid}`);
  for (const g of user.additionalGids) args.push('--additional-gids', String(g));
  args.push('--cwd', options.workdir ?? (container.config.WorkingDir || '/'));
  for (const e of [...container.config.Env, ...options.env]) args.push('--env', e);
  args.push(container.id, ...options.args);
  const child = spawn(runcBinary(), args, {
    stdio: [options.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
