// Removing a container: its mounts, runc state, files, anonymous volumes (on request) and record.
import { rm } from 'node:fs/promises';
import { runcDelete } from '../../runtime/runc.js';
import type { LocalStore } from '../store.js';
import { unmountRootfs } from './bundle.js';
import { containerLayout } from './layout.js';
import { type Container, deleteContainerRecord } from './records.js';
import { removeVolume } from './volumes.js';

/** Removes a stopped container. With `volumes`, its anonymous volumes go too (`rm -v`). */
export async function removeContainer(store: LocalStore, container: Container, options: { volumes: boolean }) {
  const { root, db } = store;
  await runcDelete(containerLayout.runcRoot(root), container.id);
  await unmountRootfs(root, container.id);
  await deleteContainerRecord(db, container.id);
  await rm(containerLayout.dir(root, container.id), { recursive: true, force: true });
  await rm(containerLayout.socket(root, container.id), { force: true });
  if (options.volumes) {
    for (const m of container.hostConfig.Mounts) {
      if (m.Type === 'volume' && m.Anonymous && m.Name) await removeVolume(store, m.Name).catch(() => {});
    }
  }
}
