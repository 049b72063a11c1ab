// `exec`: a new process in a running container, as the container's user unless told otherwise.
import { runcExec } from '../../runtime/exec.js';
import { resolveUser } from '../../runtime/user.js';
import { DaemonError } from '../images.js';
import type { LocalStore } from '../store.js';
import { containerLayout } from './layout.js';
import { reconcile } from './lifecycle.js';
import type { Container } from './records.js';

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
  return runcExec(containerLayout.runcRoot(store.root), container.id, {
    args: options.args,
    env: [...(container.config.Env ?? []), ...options.env],
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids,
    cwd: options.workdir ?? (container.config.WorkingDir || '/'),
    tty: options.tty,
    stdin: options.interactive,
  });
}
