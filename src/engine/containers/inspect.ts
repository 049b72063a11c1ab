// `inspect` of a container: Docker's JSON shape (the fields Wharf has; see docs/containers.md).
import { join } from 'node:path';
import type { LocalStore } from '../store.js';
import { commandOf, isCopiedRoot } from './bundle.js';
import { containerLayout } from './layout.js';
import type { Container } from './records.js';
import { snapshotsDir } from './snapshots.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function inspectContainer(store: LocalStore, c: Container): Record<string, unknown> {
  const { root } = store;
  const dir = containerLayout.dir(root, c.id);
  const [path = '', ...args] = commandOf(c);
  const running = c.status === 'running' || c.status === 'paused';
  return {
    Id: c.id,
    Created: c.created,
    Path: path,
    Args: args,
    State: {
      Status: c.status,
      Running: running,
      Paused: c.status === 'paused',
      Restarting: c.status === 'restarting',
      OOMKilled: false,
      Dead: c.status === 'dead',
      Pid: c.pid ?? 0,
      ExitCode: c.exitCode ?? 0,
      Error: '',
      StartedAt: c.startedAt ?? ZERO_TIME,
      FinishedAt: c.finishedAt ?? ZERO_TIME,
    },
    Image: c.imageId,
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: containerLayout.log(root, c.id),
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: isCopiedRoot(c) ? 'vfs' : 'overlay',
    Platform: 'linux',
    HostConfig: {
      Binds: c.hostConfig.Mounts.filter((m) => m.Type === 'bind').map(
        (m) => `${m.Source}:${m.Destination}${m.RW ? '' : ':ro'}`,
      ),
      NetworkMode: c.hostConfig.NetworkMode,
      RestartPolicy: c.hostConfig.RestartPolicy,
      AutoRemove: c.hostConfig.AutoRemove,
    },
    GraphDriver: isCopiedRoot(c)
      ? { Name: 'vfs', Data: { Dir: containerLayout.rootfs(root, c.id) } }
      : {
          Name: 'overlay',
          Data: {
            LowerDir: snapshotsDir(root),
            MergedDir: containerLayout.rootfs(root, c.id),
            UpperDir: containerLayout.upper(root, c.id),
            WorkDir: containerLayout.work(root, c.id),
          },
        },
    Mounts: c.hostConfig.Mounts.map((m) => ({
      Type: m.Type,
      ...(m.Name !== undefined ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Type === 'volume' ? { Driver: 'local' } : {}),
      Mode: m.RW ? '' : 'ro',
      RW: m.RW,
      Propagation: m.Type === 'bind' ? 'rprivate' : '',
    })),
    Config: c.config,
    NetworkSettings: { Networks: { [c.hostConfig.NetworkMode]: {} } },
  };
}
