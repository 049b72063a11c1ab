import { randomUUID } from 'node:crypto';
import { type MetadataDb, now } from '../metadata/db.js';
import { findNamespace } from '../metadata/namespaces.js';
import type { EventRequest, RegistryContext } from '../registry/context.js';
import { RegistryError } from '../registry/errors.js';
import { deleteManifest } from '../registry/manifests.js';
import { audit } from './audit.js';
import { HubError } from './errors.js';

// Tag retention (issue 11; Harbor's tag retention, zot's retention policies). A policy belongs to
// a repository, or to a namespace for its repositories without one of their own. Its rules keep
// tags; a run removes every tag no rule keeps:
// - protect_patterns: tags matching any are always kept, whatever else the policy says;
// - keep_last N: the N most recently pushed tags are kept;
// - keep_patterns: tags matching any are kept;
// - remove_unpulled_days D: tags pulled (or, never pulled, pushed) within the last D days are kept.
// A policy with none of the last three removes nothing. Removals go through the registry's tag
// delete (delete events, webhooks, notifications), each with an audit entry; the manifests and
// blobs they leave unreferenced return to the disk through garbage collection.

export interface RetentionRules {
  keepLast: number | null;
  keepPatterns: string[];
  protectPatterns: string[];
  removeUnpulledDays: number | null;
}

export interface RetentionPolicy extends RetentionRules {
  updatedAt: string;
  lastRunAt: string | null;
}

/** Whose policy: a repository's own, or a namespace's. */
export type PolicyOwner = { repositoryId: number } | { namespaceId: number };

const MAX_PATTERNS = 20;
const PATTERN_RE = /^[A-Za-z0-9_.*?-]{1,128}$/;

/** Checks rules given by a user (API body, UI form); throws HubError('invalid') with the reason. */
export function checkRules(input: Partial<RetentionRules>): RetentionRules {
  const count = (v: number | null | undefined, what: string, max: number): number | null => {
    if (v === undefined || v === null) return null;
    if (!Number.isInteger(v) || v < 0 || v > max)
      throw new HubError('invalid', `${what} must be an integer from 0 to ${max}`);
    return v;
  };
  const patterns = (list: string[] | undefined, what: string): string[] => {
    const out = list ?? [];
    if (!Array.isArray(out) || out.length > MAX_PATTERNS)
      throw new HubError('invalid', `${what} must be a list of at most ${MAX_PATTERNS} patterns`);
    for (const p of out) {
      if (typeof p !== 'string' || !PATTERN_RE.test(p))
        throw new HubError(
          'invalid',
          `${what}: invalid pattern ${JSON.stringify(p)} (tag characters with * and ?, at most 128)`,
        );
    }
    return [...new Set(out)];
  };
  return {
    keepLast: count(input.keepLast, 'keep_last', 100_000),
    keepPatterns: patterns(input.keepPatterns, 'keep_patterns'),
    protectPatterns: patterns(input.protectPatterns, 'protect_patterns'),
    removeUnpulledDays: count(input.removeUnpulledDays, 'remove_unpulled_days', 36_500),
  };
}

/** A glob (`*` any run of characters, `?` one) as an anchored regular expression. */
export function globRegExp(glob: string): RegExp {
  const body = glob
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.\\-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

const ownerColumn = (owner: PolicyOwner) =>
  'repositoryId' in owner
    ? (['repository_id', owner.repositoryId] as const)
    : (['namespace_id', owner.namespaceId] as const);

export async function getPolicy(db: MetadataDb, owner: PolicyOwner): Promise<RetentionPolicy | undefined> {
  const [column, id] = ownerColumn(owner);
  const row = await db.selectFrom('retention_policies').selectAll().where(column, '=', id).executeTakeFirst();
  if (!row) return undefined;
  return {
    keepLast: row.keep_last,
    keepPatterns: JSON.parse(row.keep_patterns) as string[],
    protectPatterns: JSON.parse(row.protect_patterns) as string[],
    removeUnpulledDays: row.remove_unpulled_days,
    updatedAt: row.updated_at,
    lastRunAt: row.last_run_at,
  };
}

/** Creates or replaces a policy. */
export async function savePolicy(
  db: MetadataDb,
  owner: PolicyOwner,
  input: Partial<RetentionRules>,
): Promise<RetentionPolicy> {
  const rules = checkRules(input);
  const [column, id] = ownerColumn(owner);
  const values = {
    keep_last: rules.keepLast,
    keep_patterns: JSON.stringify(rules.keepPatterns),
    protect_patterns: JSON.stringify(rules.protectPatterns),
    remove_unpulled_days: rules.removeUnpulledDays,
    updated_at: now(),
  };
  await db.transaction().execute(async (tx) => {
    const updated = await tx.updateTable('retention_policies').set(values).where(column, '=', id).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      await tx
        .insertInto('retention_policies')
        .values({
          ...values,
          repository_id: 'repositoryId' in owner ? owner.repositoryId : null,
          namespace_id: 'namespaceId' in owner ? owner.namespaceId : null,
        })
        .execute();
    }
  });
  return (await getPolicy(db, owner)) as RetentionPolicy;
}

export async function deletePolicy(db: MetadataDb, owner: PolicyOwner): Promise<boolean> {
  const [column, id] = ownerColumn(owner);
  const result = await db.deleteFrom('retention_policies').where(column, '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export interface TagFacts {
  name: string;
  digest: string;
  /** When it was last pushed (pushed_at, else updated_at). */
  pushedAt: string;
  pulledAt: string | null;
}

export interface Removal {
  tag: string;
  digest: string;
  /** Why no rule kept it, e.g. "not among the 3 most recently pushed". */
  reason: string;
}

/** The tags a policy removes, newest first. Pure: the same facts give the same answer. */
export function selectRemovals(tags: TagFacts[], rules: RetentionRules, at: number = Date.now()): Removal[] {
  const { keepLast, removeUnpulledDays } = rules;
  const keepPatterns = rules.keepPatterns.map(globRegExp);
  const protect = rules.protectPatterns.map(globRegExp);
  if (keepLast === null && keepPatterns.length === 0 && removeUnpulledDays === null) return [];
  const ordered = [...tags].sort((a, b) => b.pushedAt.localeCompare(a.pushedAt) || a.name.localeCompare(b.name));
  const newest = new Set(keepLast === null ? [] : ordered.slice(0, keepLast).map((t) => t.name));
  const since = removeUnpulledDays === null ? undefined : at - removeUnpulledDays * 86_400_000;
  const removals: Removal[] = [];
  for (const t of ordered) {
    if (protect.some((re) => re.test(t.name))) continue;
    if (newest.has(t.name)) continue;
    if (keepPatterns.some((re) => re.test(t.name))) continue;
    if (since !== undefined && Date.parse(t.pulledAt ?? t.pushedAt) >= since) continue;
    const why: string[] = [];
    if (keepLast !== null) why.push(`not among the ${keepLast} most recently pushed`);
    if (keepPatterns.length > 0) why.push(`matches no keep pattern`);
    if (removeUnpulledDays !== null) why.push(`not pulled for ${removeUnpulledDays} days`);
    removals.push({ tag: t.name, digest: t.digest, reason: why.join(', ') });
  }
  return removals;
}

async function tagFacts(db: MetadataDb, repositoryId: number): Promise<TagFacts[]> {
  const rows = await db
    .selectFrom('tags')
    .select(['name', 'manifest_digest', 'updated_at', 'pushed_at', 'pulled_at'])
    .where('repository_id', '=', repositoryId)
    .execute();
  return rows.map((r) => ({
    name: r.name,
    digest: r.manifest_digest,
    pushedAt: r.pushed_at ?? r.updated_at,
    pulledAt: r.pulled_at,
  }));
}

/** The policy that applies to a repository: its own, else its namespace's. */
export async function effectivePolicy(
  db: MetadataDb,
  repository: { id: number; name: string },
): Promise<{ source: 'repository' | 'namespace'; owner: PolicyOwner; policy: RetentionPolicy } | undefined> {
  const own = await getPolicy(db, { repositoryId: repository.id });
  if (own) return { source: 'repository', owner: { repositoryId: repository.id }, policy: own };
  const slash = repository.name.indexOf('/');
  const ns = slash < 0 ? undefined : await findNamespace(db, repository.name.slice(0, slash));
  const inherited = ns ? await getPolicy(db, { namespaceId: ns.id }) : undefined;
  return ns && inherited ? { source: 'namespace', owner: { namespaceId: ns.id }, policy: inherited } : undefined;
}

export interface RepositoryRun {
  repository: string;
  policy: 'repository' | 'namespace';
  removed: Removal[];
  /** Tags kept. */
  kept: number;
  /** Tags a real run meant to remove but found changed or gone (pushed again meanwhile). */
  skipped: string[];
}

export interface RetentionRun {
  dryRun: boolean;
  startedAt: string;
  repositories: RepositoryRun[];
  removed: number;
}

/** Who runs it: an account through the API/UI, or the schedule (no account). */
export interface RetentionActor {
  accountId?: number | null;
  username?: string;
  ip?: string;
}

/** Which repositories a run covers. */
export type RunScope = { repository: string } | { namespace: string } | { all: true };

async function repositoriesOf(db: MetadataDb, scope: RunScope): Promise<{ id: number; name: string }[]> {
  const inNamespace = (ns: string) =>
    db
      .selectFrom('repositories')
      .select(['id', 'name'])
      .where('name', '>', `${ns}/`)
      .where('name', '<', `${ns}0`)
      .orderBy('name')
      .execute();
  if ('repository' in scope)
    return db.selectFrom('repositories').select(['id', 'name']).where('name', '=', scope.repository).execute();
  if ('namespace' in scope) return inNamespace(scope.namespace);
  // Every repository with a policy of its own or in a namespace that has one.
  const own = await db
    .selectFrom('retention_policies as p')
    .innerJoin('repositories as r', 'r.id', 'p.repository_id')
    .select(['r.id', 'r.name'])
    .execute();
  const namespaces = await db
    .selectFrom('retention_policies as p')
    .innerJoin('namespaces as n', 'n.id', 'p.namespace_id')
    .select('n.name')
    .execute();
  const all = new Map(own.map((r) => [r.name, r]));
  for (const n of namespaces) for (const r of await inNamespace(n.name)) all.set(r.name, r);
  return [...all.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Applies the retention policies of the repositories in `scope`. A dry run only says what would
 * go. A real run removes each tag through the registry's tag delete (its delete event, the
 * webhooks and notification endpoints), records it in the audit log, and skips a tag that was
 * pushed again (now another digest) since the plan was made.
 */
export async function runRetention(
  ctx: RegistryContext,
  scope: RunScope,
  options: { dryRun: boolean; actor?: RetentionActor },
): Promise<RetentionRun> {
  const { db } = ctx;
  const startedAt = now();
  const actor = options.actor ?? {};
  if (!options.dryRun && !ctx.options.deleteEnabled)
    throw new HubError(
      'denied',
      'deletes are disabled on this registry (storage.delete_enabled): only a dry run is possible',
    );
  const request: EventRequest = {
    actor: actor.username ?? '',
    addr: actor.ip ?? '',
    host: '',
    method: 'DELETE',
    userAgent: 'wharf-retention',
    id: randomUUID(),
  };
  const runs: RepositoryRun[] = [];
  for (const repo of await repositoriesOf(db, scope)) {
    const effective = await effectivePolicy(db, repo);
    if (!effective) continue;
    const tags = await tagFacts(db, repo.id);
    const planned = selectRemovals(tags, effective.policy, Date.now());
    const run: RepositoryRun = {
      repository: repo.name,
      policy: effective.source,
      removed: [],
      kept: tags.length - planned.length,
      skipped: [],
    };
    runs.push(run);
    if (options.dryRun) {
      run.removed = planned;
      continue;
    }
    const namespaceId =
      (await db.selectFrom('repositories').select('namespace_id').where('id', '=', repo.id).executeTakeFirst())
        ?.namespace_id ?? null;
    for (const r of planned) {
      // Pushed again since the plan: the policy judged the old image, not this one.
      const current = await db
        .selectFrom('tags')
        .select('manifest_digest')
        .where('repository_id', '=', repo.id)
        .where('name', '=', r.tag)
        .executeTakeFirst();
      if (current?.manifest_digest !== r.digest) {
        run.skipped.push(r.tag);
        continue;
      }
      try {
        // GC: the tag delete queues the manifest it pointed to for review (registry/metadata side).
        await deleteManifest(ctx, repo.name, { kind: 'tag', tag: r.tag }, request);
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN') {
          run.skipped.push(r.tag);
          continue;
        }
        throw err;
      }
      run.removed.push(r);
      await audit(db, {
        accountId: actor.accountId ?? null,
        action: 'retention.delete',
        namespaceId,
        target: `${repo.name}:${r.tag}`,
        detail: { repository: repo.name, tag: r.tag, digest: r.digest, reason: r.reason, policy: effective.source },
        ip: actor.ip ?? '',
      });
    }
    const [column, id] = ownerColumn(effective.owner);
    await db.updateTable('retention_policies').set({ last_run_at: startedAt }).where(column, '=', id).execute();
  }
  return {
    dryRun: options.dryRun,
    startedAt,
    repositories: runs,
    removed: runs.reduce((n, r) => n + r.removed.length, 0),
  };
}
