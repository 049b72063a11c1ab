// `-u`/USER resolved against the container's own /etc/passwd and /etc/group, as Docker does.
import { readFile } from 'node:fs/promises';
import { resolveInRoot } from '../archive/paths.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** From passwd, for HOME when the image sets none. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Reads a file of the container's filesystem; symlinks are followed inside the root, never to the host. */
async function readInRoot(rootfs: string, path: string): Promise<string | undefined> {
  const host = resolveInRoot(rootfs, path.split('/'), path);
  return readFile(host, 'utf8').catch(() => undefined);
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, uid, gid, home: f[5] as string });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, gid, members: (f[3] as string).split(',').filter((m) => m !== '') });
  }
  return out;
}

const NUMERIC = /^\d+$/;

/** Resolves `user[:group]` (names or numbers); '' means root. Errors use Docker's wording. */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = parsePasswd(await readInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(await readInRoot(rootfs, '/etc/group'));
  let uid = 0;
  let gid = 0;
  let home = '/';
  let name: string | undefined = 'root';
  if (userPart !== '') {
    const entry = passwd.find((p) => (NUMERIC.test(userPart) ? p.uid === Number(userPart) : p.name === userPart));
    if (entry) {
      ({ uid, gid, home, name } = entry);
    } else if (NUMERIC.test(userPart)) {
      uid = Number(userPart);
      name = undefined;
    } else {
      throw new Error(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
  } else {
    const rootEntry = passwd.find((p) => p.uid === 0);
    if (rootEntry) home = rootEntry.home;
  }
  if (groupPart !== undefined && groupPart !== '') {
    const group = groups.find((g) => (NUMERIC.test(groupPart) ? g.gid === Number(groupPart) : g.name === groupPart));
    if (group) gid = group.gid;
    else if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else throw new Error(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const additionalGids =
    name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid, additionalGids, home };
}
