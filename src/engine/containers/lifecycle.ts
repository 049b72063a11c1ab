// Starting, stopping, killing and waiting for containers. Starting means spawning the
// container's monitor (monitor.ts), detached, so that the container outlives this command.
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { requireRoot, runcBinary, runcKill, runcState } from '../../runtime/runc.js';
import { DaemonError } from '../images.js';
import type { LocalStore } from '../store.js';
import { isCopiedRoot, unmountRootfs } from './bundle.js';
import { containerLayout } from './layout.js';
import { type Container, getContainer, isActive, updateContainer } from './records.js';

const CLI_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/**
 * Whether the monitor with this pid still runs: the process exists, is not a zombie waiting to
 * be reaped, and is a wharf container monitor (pids are reused).
 */
function monitorAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('container-monitor');
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The container as it really is: a record that says running (or restarting) while its monitor is
 * gone (killed, or the machine rebooted) is brought up to date. A container still running without
 * a monitor is killed: nothing would collect its exit or logs (as after a Docker daemon restart).
 */
export async function reconcile(store: LocalStore, container: Container): Promise<Container> {
  const active = isActive(container);
  if (!active || monitorAlive(container.monitorPid)) return container;
  const stateRoot = containerLayout.runcRoot(store.root);
  const state = await runcState(stateRoot, container.id);
  if (state && state.status !== 'stopped') {
    await runcKill(stateRoot, container.id, 'KILL').catch(() => {});
    for (let i = 0; i < 100 && (await runcState(stateRoot, container.id))?.status === 'running'; i++) await sleep(20);
  }
  if (!isCopiedRoot(container)) await unmountRootfs(store.root, container.id).catch(() => {});
  await updateContainer(store.db, container.id, {
    status: 'exited',
    pid: null,
    monitorPid: null,
    exitCode: container.exitCode ?? 137,
    finishedAt: container.finishedAt ?? new Date().toISOString(),
  });
  return getContainer(store.db, container.id);
}

export interface StartOptions {
  /** The caller attaches to the monitor's socket before the container starts. */
  waitAttach?: boolean;
  rows?: number;
  cols?: number;
}

/** Spawns the monitor for a container that is not running; resolves once it listens. */
export async function startContainer(
  store: LocalStore,
  container: Container,
  options: StartOptions = {},
): Promise<void> {
  requireRoot();
  runcBinary();
  const current = await reconcile(store, container);
  if (current.status === 'running' || current.status === 'restarting') {
    if (monitorAlive(current.monitorPid)) return; // Docker: starting a running container is a no-op
  }
  await updateContainer(store.db, container.id, { stoppedByUser: false, monitorPid: null });
  const dir = containerLayout.dir(store.root, container.id);
  await mkdir(dir, { recursive: true });
  const logFd = openSync(containerLayout.monitorLog(store.root, container.id), 'a');
  const args = [CLI_MAIN, 'container-monitor', '--root', store.root, container.id];
  if (options.waitAttach) args.push('--wait-attach');
  if (options.rows && options.cols) args.push('--rows', String(options.rows), '--cols', String(options.cols));
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  child.unref();
  // Ready once the monitor has recorded itself (then its socket listens).
  for (let i = 0; i < 500; i++) {
    const now = await getContainer(store.db, container.id);
    if (now.monitorPid === child.pid) return;
    if (child.exitCode !== null) break;
    await sleep(10);
  }
  throw new DaemonError(
    `the monitor of container ${container.id.slice(0, 12)} did not start (see ${containerLayout.monitorLog(store.root, container.id)})`,
  );
}

/** Waits until the container is no longer running or restarting; returns it. */
export async function waitStopped(
  store: LocalStore,
  id: string,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<Container> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await reconcile(store, await getContainer(store.db, id));
    if (c.status !== 'running' && c.status !== 'restarting' && c.status !== 'paused') return c;
    if (Date.now() > deadline) return c;
    await sleep(50);
  }
}

/** Sends a signal; the container counts as stopped by the user for its restart policy. */
export async function killContainer(store: LocalStore, container: Container, signal = 'KILL'): Promise<void> {
  const current = await reconcile(store, container);
  if (current.status !== 'running' && current.status !== 'paused') {
    throw new DaemonError(
      `cannot kill container: ${container.id.slice(0, 12)}: container ${container.id} is not running`,
    );
  }
  await updateContainer(store.db, container.id, { stoppedByUser: true });
  await runcKill(containerLayout.runcRoot(store.root), container.id, signal);
}

/** `stop`: the stop signal, then SIGKILL after `timeoutS` seconds. */
export async function stopContainer(store: LocalStore, container: Container, timeoutS = 10): Promise<void> {
  const current = await reconcile(store, container);
  await updateContainer(store.db, container.id, { stoppedByUser: true });
  if (current.status === 'restarting') {
    await waitStopped(store, container.id);
    return;
  }
  if (current.status !== 'running' && current.status !== 'paused') return;
  const stateRoot = containerLayout.runcRoot(store.root);
  const signal = (current.config.StopSignal ?? 'SIGTERM').replace(/^SIG/, '');
  await runcKill(stateRoot, container.id, signal).catch(() => {});
  const after = await waitStopped(store, container.id, timeoutS * 1000);
  if (after.status === 'running' || after.status === 'paused') {
    await runcKill(stateRoot, container.id, 'KILL').catch(() => {});
    await waitStopped(store, container.id);
  }
}
