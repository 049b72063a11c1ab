import { Command } from 'commander';
import { RepositoryActions } from '../auth/scope.js';
import { audit } from '../hub/audit.js';
import { listCollaborators } from '../hub/collaborators.js';
import { setOfficial } from '../hub/official.js';
import { listRepositoryTeams } from '../hub/teams.js';
import { findAccount } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import { findRepository, listGrants, type RepositoryInfo, setGrant, setVisibility } from '../metadata/repositories.js';
import type { Visibility } from '../metadata/schema.js';
import { isValidRepositoryName } from '../oci/name.js';
import { type DataOptions, withDatabase, withDataOptions } from './store.js';
import { formatTable } from './table.js';

const VISIBILITIES: readonly Visibility[] = ['public', 'private'];

/**
 * `pull,push` → the actions in canonical order; `none` → no actions (removes the grant).
 * Anything else (unknown or empty action, `none` mixed with actions) is an error.
 */
export function parseActions(value: string): string[] {
  const parts = value.split(',').map((a) => a.trim());
  if (parts.length === 1 && parts[0] === 'none') return [];
  const known: readonly string[] = RepositoryActions;
  if (parts.some((a) => !known.includes(a))) {
    throw new Error(
      `invalid actions ${JSON.stringify(value)}: use a comma-separated list of ${RepositoryActions.join(', ')}, or none`,
    );
  }
  return known.filter((a) => parts.includes(a));
}

/** `wharf repo …`: visibility and grants of the data directory's repositories. */
export function repoCommand(): Command {
  const repo = new Command('repo').description('manage repository visibility and access');

  withDataOptions(
    repo
      .command('visibility')
      .description('make a repository public (anyone may pull) or private')
      .argument('<name>', 'repository, e.g. alice/app')
      .argument('<visibility>', 'public or private'),
  ).action(async (name: string, visibility: string, opts: DataOptions) => {
    if (!(VISIBILITIES as readonly string[]).includes(visibility)) {
      throw new Error(`invalid visibility ${JSON.stringify(visibility)}: use public or private`);
    }
    await withDatabase(opts, { create: false }, async (db) => {
      await requireRepository(db, name);
      if (!(await setVisibility(db, name, visibility as Visibility))) noSuchRepository(name);
      await audit(db, { action: 'repository.visibility', target: name, detail: { visibility, via: 'cli' } });
    });
  });

  withDataOptions(
    repo
      .command('official')
      .description('mark a repository official (shown with the official badge and first in searches), or not')
      .argument('<name>', 'repository, e.g. library/nginx')
      .argument('<on|off>', 'on or off'),
  ).action(async (name: string, mark: string, opts: DataOptions) => {
    if (mark !== 'on' && mark !== 'off') throw new Error(`invalid mark ${JSON.stringify(mark)}: use on or off`);
    await withDatabase(opts, { create: false }, async (db) => {
      await requireRepository(db, name);
      if (!(await setOfficial(db, name, mark === 'on'))) noSuchRepository(name);
      await audit(db, {
        action: 'repository.official',
        target: name,
        detail: { is_official: mark === 'on', via: 'cli' },
      });
    });
  });

  withDataOptions(
    repo
      .command('grant')
      .description("set an account's access to a repository (replacing what it had)")
      .argument('<name>', 'repository, e.g. alice/app')
      .argument('<user>', 'username')
      .argument('<actions>', `comma-separated ${RepositoryActions.join(',')}, or none to remove the grant`),
  ).action(async (name: string, username: string, actionList: string, opts: DataOptions) => {
    const actions = parseActions(actionList);
    await withDatabase(opts, { create: false }, async (db) => {
      const repository = await requireRepository(db, name);
      const account = await findAccount(db, username);
      if (!account) throw new Error(`no such user: ${username}`);
      await setGrant(db, repository.id, account.id, actions);
    });
  });

  withDataOptions(
    repo.command('show').description("show a repository's visibility and grants").argument('<name>', 'repository'),
  ).action(async (name: string, opts: DataOptions) => {
    const out = await withDatabase(opts, { create: false }, async (db) => {
      const repository = await requireRepository(db, name);
      const grants = (await listGrants(db, repository.id)).map((g) => [g.username, g.actions.join(',')]);
      // Hub access counts too: an organization's teams and a user repository's collaborators.
      const teams = (await listRepositoryTeams(db, repository.id)).map((t) => [t.team, t.permission]);
      const collaborators = (await listCollaborators(db, repository.id)).map((c) => [c.username, c.permission]);
      const tables = [
        grants.length > 0 ? formatTable(['USER', 'ACTIONS'], grants) : '',
        teams.length > 0 ? formatTable(['TEAM', 'PERMISSION'], teams) : '',
        collaborators.length > 0 ? formatTable(['COLLABORATOR', 'PERMISSION'], collaborators) : '',
      ].filter((t) => t !== '');
      let text = formatTable(['NAME', 'VISIBILITY'], [[repository.name, repository.visibility]]);
      text += `\n${tables.length > 0 ? tables.join('\n') : 'no grants\n'}`;
      return text;
    });
    process.stdout.write(out);
  });

  return repo;
}

function noSuchRepository(name: string): never {
  throw new Error(`no such repository: ${name}`);
}

async function requireRepository(db: MetadataDb, name: string): Promise<RepositoryInfo> {
  if (!isValidRepositoryName(name)) throw new Error(`invalid repository name ${JSON.stringify(name)}`);
  return (await findRepository(db, name)) ?? noSuchRepository(name);
}
