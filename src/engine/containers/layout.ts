// Where a container's files live under the store root:
//
//   <root>/containers/<id>/
//   ├── config.json        the runc bundle's runtime spec (the bundle is this directory)
//   ├── rootfs/            overlay mount point: the image's snapshots + upper
//   ├── init/              Docker's init layer: the container's mount points, below upper/
//   ├── upper/  work/      the container's writable layer (overlay upperdir and workdir)
//   ├── hosts hostname resolv.conf   bind-mounted into /etc (kept out of commits and the upper dir)
//   ├── <id>-json.log      output, Docker's json-file format
//   └── monitor.log        the monitor's own errors
//   <root>/runc/           runc's state directory
//   <root>/volumes/<name>/_data
//   /run/wharf/<hash>.sock   the monitor's attach socket (socket paths are limited to 108 bytes,
//                            too short for a container directory under an arbitrary root)
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether something exists at `path` (a container's directories appear as it is prepared and run). */
export function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Directory of the attach sockets (WHARF_RUN_DIR, default /run/wharf). */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.WHARF_RUN_DIR || '/run/wharf';
}

export const containerLayout = {
  dir: (root: string, id: string) => join(root, 'containers', id),
  rootfs: (root: string, id: string) => join(root, 'containers', id, 'rootfs'),
  init: (root: string, id: string) => join(root, 'containers', id, 'init'),
  upper: (root: string, id: string) => join(root, 'containers', id, 'upper'),
  work: (root: string, id: string) => join(root, 'containers', id, 'work'),
  log: (root: string, id: string) => join(root, 'containers', id, `${id}-json.log`),
  socket: (root: string, id: string) =>
    join(
      runDir(),
      `${createHash('sha256')
        .update(join(root, 'containers', id))
        .digest('hex')
        .slice(0, 32)}.sock`,
    ),
  monitorLog: (root: string, id: string) => join(root, 'containers', id, 'monitor.log'),
  runcRoot: (root: string) => join(root, 'runc'),
  volume: (root: string, name: string) => join(root, 'volumes', name, '_data'),
  volumes: (root: string) => join(root, 'volumes'),
};
