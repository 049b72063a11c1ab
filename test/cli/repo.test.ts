// `wharf repo …` run as users run it: the built CLI in a subprocess, on a data directory whose
// accounts are made with `wharf user add` and whose repositories are made directly in the
// database (as a first push would).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setCollaborator } from '../../src/hub/collaborators.js';
import { createOrganization } from '../../src/hub/namespaces.js';
import { createTeam, setTeamPermission } from '../../src/hub/teams.js';
import { findAccount } from '../../src/metadata/accounts.js';
import { type MetadataDb, openSqlite } from '../../src/metadata/db.js';
import { ensureRepository, findRepository, grantedActions } from '../../src/metadata/repositories.js';
import { WHARF_BIN } from '../support/server.js';
import { type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

function wharf(args: string[], input?: string): Promise<RunResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_')));
  return run(process.execPath, [WHARF_BIN, ...args], { env, timeoutMs: 30_000, input });
}

function expectError(result: RunResult, message: string): void {
  expect(result).toEqual({ code: 1, stdout: '', stderr: `wharf: ${message}\n` });
}

describe('wharf repo', () => {
  let dir: string;

  async function withDb<T>(fn: (db: MetadataDb) => Promise<T>): Promise<T> {
    const db = await openSqlite(join(dir, 'wharf.db'));
    try {
      return await fn(db);
    } finally {
      await db.destroy();
    }
  }

  const grants = (repo: string, user: string) =>
    withDb(async (db) => {
      const r = await findRepository(db, repo);
      const a = await findAccount(db, user);
      return grantedActions(db, r!.id, a!.id);
    });
  const visibility = (repo: string) => withDb(async (db) => (await findRepository(db, repo))?.visibility);

  beforeAll(async () => {
    dir = await tmpDir('wharf-cli-repo');
    for (const user of ['alice', 'bob']) {
      const result = await wharf(['user', 'add', user, '--admin', '--password-stdin', '--data', dir], 'password1\n');
      expect(result.code).toBe(0);
    }
    await withDb(async (db) => {
      await ensureRepository(db, 'alice/app');
      await ensureRepository(db, 'alice/secret', 'private');
    });
  });
  afterAll(async () => {
    await removeTmpDir(dir);
  });

  it('refuses to work on a data directory without a database', async () => {
    const empty = await tmpDir('wharf-cli-repo-empty');
    try {
      expectError(await wharf(['repo', 'show', 'alice/app', '--data', empty]), `no Wharf data in ${empty}`);
      expectError(
        await wharf(['repo', 'visibility', 'alice/app', 'private', '--data', empty]),
        `no Wharf data in ${empty}`,
      );
      expectError(
        await wharf(['repo', 'grant', 'alice/app', 'bob', 'pull', '--data', empty]),
        `no Wharf data in ${empty}`,
      );
    } finally {
      await removeTmpDir(empty);
    }
  });

  it('shows a repository with no grants', async () => {
    const result = await wharf(['repo', 'show', 'alice/app', '--data', dir]);
    expect(result).toEqual({
      code: 0,
      stdout: 'NAME        VISIBILITY\nalice/app   public\n\nno grants\n',
      stderr: '',
    });
  });

  it('sets visibility', async () => {
    expect(await wharf(['repo', 'visibility', 'alice/app', 'private', '--data', dir])).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect(await visibility('alice/app')).toBe('private');
    expect((await wharf(['repo', 'show', 'alice/app', '--data', dir])).stdout).toMatch(/^alice\/app +private$/m);

    expect((await wharf(['repo', 'visibility', 'alice/secret', 'public', '--data', dir])).code).toBe(0);
    expect(await visibility('alice/secret')).toBe('public');
    expect((await wharf(['repo', 'visibility', 'alice/secret', 'private', '--data', dir])).code).toBe(0);
    expect(await visibility('alice/secret')).toBe('private');
  });

  it('refuses a bad visibility or an unknown repository, changing nothing', async () => {
    expectError(
      await wharf(['repo', 'visibility', 'alice/app', 'internal', '--data', dir]),
      'invalid visibility "internal": use public or private',
    );
    expectError(
      await wharf(['repo', 'visibility', 'alice/app', 'Public', '--data', dir]),
      'invalid visibility "Public": use public or private',
    );
    expect(await visibility('alice/app')).toBe('private');
    expectError(
      await wharf(['repo', 'visibility', 'alice/nope', 'public', '--data', dir]),
      'no such repository: alice/nope',
    );
    expectError(await wharf(['repo', 'show', 'alice/nope', '--data', dir]), 'no such repository: alice/nope');
    expectError(await wharf(['repo', 'show', 'Alice/App', '--data', dir]), 'invalid repository name "Alice/App"');
    expect(await visibility('alice/nope')).toBeUndefined();
  });

  it('grants, replaces and removes access', async () => {
    const granted = await wharf(['repo', 'grant', 'alice/secret', 'bob', 'push,pull', '--data', dir]);
    expect(granted).toEqual({ code: 0, stdout: '', stderr: '' });
    // Stored in canonical order.
    expect(await grants('alice/secret', 'bob')).toEqual(['pull', 'push']);

    const show = await wharf(['repo', 'show', 'alice/secret', '--data', dir]);
    expect(show.stdout).toBe(
      'NAME           VISIBILITY\nalice/secret   private\n\nUSER      ACTIONS\nbob       pull,push\n',
    );

    // A grant replaces the previous one; duplicates and blanks around commas are fine.
    expect((await wharf(['repo', 'grant', 'alice/secret', 'bob', 'delete, pull,pull', '--data', dir])).code).toBe(0);
    expect(await grants('alice/secret', 'bob')).toEqual(['pull', 'delete']);
    expect((await wharf(['repo', 'grant', 'alice/secret', 'alice', 'pull', '--data', dir])).code).toBe(0);
    expect((await wharf(['repo', 'show', 'alice/secret', '--data', dir])).stdout).toMatch(
      /USER +ACTIONS\nalice +pull\nbob +pull,delete\n$/,
    );

    expect((await wharf(['repo', 'grant', 'alice/secret', 'bob', 'none', '--data', dir])).code).toBe(0);
    expect(await grants('alice/secret', 'bob')).toEqual([]);
    // Removing a grant that does not exist is not an error.
    expect((await wharf(['repo', 'grant', 'alice/secret', 'bob', 'none', '--data', dir])).code).toBe(0);
    expect((await wharf(['repo', 'grant', 'alice/secret', 'alice', 'none', '--data', dir])).code).toBe(0);
    expect((await wharf(['repo', 'show', 'alice/secret', '--data', dir])).stdout).toMatch(/\n\nno grants\n$/);
  });

  it('refuses invalid actions, unknown users and unknown repositories, changing nothing', async () => {
    expect((await wharf(['repo', 'grant', 'alice/secret', 'bob', 'pull', '--data', dir])).code).toBe(0);
    for (const actions of ['pull,admin', '*', '', 'none,pull', 'pull,,push', 'PULL', 'all']) {
      expectError(
        await wharf(['repo', 'grant', 'alice/secret', 'bob', actions, '--data', dir]),
        `invalid actions ${JSON.stringify(actions)}: use a comma-separated list of pull, push, delete, or none`,
      );
    }
    expect(await grants('alice/secret', 'bob')).toEqual(['pull']);
    expectError(
      await wharf(['repo', 'grant', 'alice/secret', 'nobody', 'pull', '--data', dir]),
      'no such user: nobody',
    );
    expectError(
      await wharf(['repo', 'grant', 'alice/nope', 'bob', 'pull', '--data', dir]),
      'no such repository: alice/nope',
    );
  });

  it('shows the teams and collaborators with access, not "no grants"', async () => {
    await withDb(async (db) => {
      const alice = await findAccount(db, 'alice');
      const org = await createOrganization(db, alice!, { name: 'acme' });
      const team = await createTeam(db, org.id, { name: 'devs' });
      const repoId = await ensureRepository(db, 'acme/tool', 'private');
      await setTeamPermission(db, team.id, repoId, 'write');
      const app = await findRepository(db, 'alice/app');
      const bob = await findAccount(db, 'bob');
      await setCollaborator(db, app!.id, bob!.id, 'read');
    });
    const team = await wharf(['repo', 'show', 'acme/tool', '--data', dir]);
    expect(team.stdout).toBe('NAME        VISIBILITY\nacme/tool   private\n\nTEAM      PERMISSION\ndevs      write\n');
    const collaborator = await wharf(['repo', 'show', 'alice/app', '--data', dir]);
    expect(collaborator.stdout).toMatch(/\n\nCOLLABORATOR +PERMISSION\nbob +read\n$/);
  });
});
