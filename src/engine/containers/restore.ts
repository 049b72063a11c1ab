// `wharf container restore`: what a Docker daemon does for its containers when it starts
// (run it at boot). Containers whose monitor is gone are brought up to date (a container left
// running without one is killed), then started again where their restart policy says so.
import type { LocalStore } from '../store.js';
import { reconcile, startContainer } from './lifecycle.js';
import { shouldRestart } from './monitor.js';
import { type Container, isActive, listContainers } from './records.js';

/**
 * Whether the policy brings a container back when the engine (re)starts: as after an exit
 * (a container that never ran counts as exited 0), except that `always` comes back even after
 * the user stopped it (Docker's rule when its daemon starts).
 */
export function restartsOnBoot(c: Container): boolean {
  return c.hostConfig.RestartPolicy.Name === 'always' || shouldRestart(c, c.exitCode ?? 0);
}

/** Returns the containers started again. */
export async function restoreContainers(store: LocalStore): Promise<Container[]> {
  const started: Container[] = [];
  for (const listed of await listContainers(store.db)) {
    const c = await reconcile(store, listed);
    if (isActive(c)) continue; // its monitor is alive
    if (!restartsOnBoot(c)) continue;
    await startContainer(store, c);
    started.push(c);
  }
  return started;
}
