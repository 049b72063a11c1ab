// The runc command line (Debian's `runc`, the OCI runtime Docker uses), and the mount tool.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of runc (WHARF_RUNC, else found on PATH); a clear error with the install hint when missing. */
export function runcBinary(): string {
  const chosen = process.env.WHARF_RUNC;
  if (chosen) {
    try {
      accessSync(chosen, constants.X_OK);
      return chosen;
    } catch {
      throw new Error(
        `runc not found at ${chosen} (WHARF_RUNC): containers need the OCI runtime runc (apt-get install runc)`,
      );
    }
  }
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SEARCH_PATH];
  for (const dir of dirs) {
    const candidate = join(dir, 'runc');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error('runc not found: containers need the OCI runtime runc (apt-get install runc)');
}

/** Containers need root: rootless containers (user namespaces, fuse-overlayfs) are not supported yet. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('containers need root: rootless containers are not supported yet (run wharf as root)');
  }
}

export function exec(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args[0] ?? ''}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve({ stdout, stderr });
    });
  });
}

export interface RuncState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

/** `runc state`, or undefined when runc does not know the container. */
export async function runcState(stateRoot: string, id: string): Promise<RuncState | undefined> {
  try {
    const { stdout } = await exec(runcBinary(), ['--root', stateRoot, 'state', id]);
    const parsed = JSON.parse(stdout) as { status: RuncState['status']; pid: number };
    return { status: parsed.status, pid: parsed.pid };
  } catch {
    return undefined;
  }
}

export async function runcKill(stateRoot: string, id: string, signal: string): Promise<void> {
  await exec(runcBinary(), ['--root', stateRoot, 'kill', id, signal]);
}

export async function runcDelete(stateRoot: string, id: string): Promise<void> {
  await exec(runcBinary(), ['--root', stateRoot, 'delete', '--force', id]).catch(() => {});
}

export async function runcPause(stateRoot: string, id: string): Promise<void> {
  await exec(runcBinary(), ['--root', stateRoot, 'pause', id]);
}

export async function runcResume(stateRoot: string, id: string): Promise<void> {
  await exec(runcBinary(), ['--root', stateRoot, 'resume', id]);
}
