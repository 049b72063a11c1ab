import { randomUUID } from 'node:crypto';
import { type MetadataDb, now } from '../metadata/db.js';
import type { ManifestEvent, RegistryEvents } from '../registry/context.js';
import { enqueue, type NewDelivery } from './deliveries.js';
import type { PullCounter } from './pulls.js';
import { recordTagPush } from './usage-history.js';
import { webhooksFor } from './webhooks.js';

/**
 * The hub's side of the registry's events: per-tag pushed/pulled times, the repository's last
 * push and pull count, and queued deliveries for repository webhooks (Docker Hub's payload) and
 * configured notification endpoints (Distribution's envelope). One transaction per push or
 * delete; pulls are counted in memory and written in batches (hub/pulls.ts), with a transaction
 * of their own only when a notification endpoint wants pull events. The worker is only woken,
 * never waited for.
 */

export const DISTRIBUTION_EVENTS_TYPE = 'application/vnd.docker.distribution.events.v2+json';

export interface NotificationEndpoint {
  name: string;
  url: string;
  ignoredActions: string[];
}

export interface HubEventsOptions {
  endpoints: NotificationEndpoint[];
  /** `http` or `https`, for the URLs in payloads (the host comes from each request). */
  scheme: string;
  /** The server's address, for Distribution's `source.addr`. */
  sourceAddr: string;
  /** Called after deliveries were queued (wakes the worker). */
  queued?: () => void;
  /** Counts pulls of tags (pull_count, per-tag pulled_at) and writes them in batches. */
  pulls: PullCounter;
  log: { error(obj: object, msg: string): void };
}

type Action = 'push' | 'pull' | 'delete';

interface RepoRow {
  id: number;
  name: string;
  visibility: string;
  description: string;
  full_description: string;
  is_official: number;
  star_count: number;
  created_at: string;
}

const unixSeconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/** `alice/app` → ['alice', 'app']; top-level names are in Docker Hub's `library`. */
function splitName(name: string): [string, string] {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? ['library', name] : [name.slice(0, slash), name.slice(slash + 1)];
}

export function createHubEvents(db: MetadataDb, options: HubEventsOptions): RegistryEvents {
  const instanceID = randomUUID();
  // Without an endpoint that wants pulls, a pull writes nothing but the batched counts.
  const pullsDelivered = options.endpoints.some((ep) => !ep.ignoredActions.includes('pull'));

  const baseUrl = (e: ManifestEvent): string => `${options.scheme}://${e.request?.host || options.sourceAddr}`;

  /** Docker Hub's webhook body (hub-and-engine.md §3.1), plus `event` for delete hooks. */
  const hubPayload = (e: ManifestEvent, repo: RepoRow, action: Action, at: string, webhookId: number): string => {
    const [namespace, name] = splitName(repo.name);
    const base = baseUrl(e);
    const who = e.request?.actor ?? '';
    const data = { pushed_at: unixSeconds(at), pusher: who, tag: e.tag ?? '', digest: e.digest };
    return JSON.stringify({
      callback_url: `${base}/api/repositories/${repo.name}/webhooks/${webhookId}`,
      ...(action === 'push'
        ? { push_data: data }
        : {
            event: 'delete',
            delete_data: { deleted_at: unixSeconds(at), deleter: who, tag: e.tag ?? '', digest: e.digest },
          }),
      repository: {
        comment_count: 0,
        date_created: unixSeconds(repo.created_at),
        description: repo.description,
        dockerfile: '',
        full_description: repo.full_description,
        is_official: repo.is_official === 1,
        is_private: repo.visibility === 'private',
        is_trusted: false,
        name,
        namespace,
        owner: namespace,
        repo_name: repo.name,
        repo_url: `${base}/r/${repo.name}`,
        star_count: repo.star_count,
        status: 'Active',
      },
    });
  };

  /** Distribution's envelope with one event (hub-and-engine.md §3.2). */
  const envelope = (e: ManifestEvent, action: Action, at: string): string => {
    const base = baseUrl(e);
    const target =
      action === 'delete'
        ? {
            repository: e.repository,
            // A repository delete names the repository only.
            ...(e.digest ? { digest: e.digest } : {}),
            ...(e.tag ? { tag: e.tag } : {}),
          }
        : {
            mediaType: e.mediaType,
            size: e.size,
            digest: e.digest,
            length: e.size,
            repository: e.repository,
            url: `${base}/v2/${e.repository}/manifests/${e.digest}`,
            ...(e.tag ? { tag: e.tag } : {}),
          };
    return JSON.stringify({
      events: [
        {
          id: randomUUID(),
          timestamp: at,
          action,
          target,
          request: {
            id: e.request?.id ?? '',
            addr: e.request?.addr ?? '',
            host: e.request?.host ?? '',
            method: e.request?.method ?? '',
            useragent: e.request?.userAgent ?? '',
          },
          actor: { name: e.request?.actor ?? '' },
          source: { addr: options.sourceAddr, instanceID },
        },
      ],
    });
  };

  const endpointDeliveries = (e: ManifestEvent, action: Action, at: string): NewDelivery[] =>
    options.endpoints
      .filter((ep) => !ep.ignoredActions.includes(action))
      .map((ep) => ({
        endpoint: ep.name,
        url: ep.url,
        event: action,
        payload: envelope(e, action, at),
        contentType: DISTRIBUTION_EVENTS_TYPE,
      }));

  /** Runs one event's updates and enqueues in a transaction; logs instead of throwing. */
  const handle = async (
    e: ManifestEvent,
    action: Action,
    work: (tx: MetadataDb, repo: RepoRow, at: string) => Promise<NewDelivery[]>,
  ): Promise<void> => {
    try {
      let queued = 0;
      await db.transaction().execute(async (tx) => {
        const repo = await tx
          .selectFrom('repositories')
          .select([
            'id',
            'name',
            'visibility',
            'description',
            'full_description',
            'is_official',
            'star_count',
            'created_at',
          ])
          .where('name', '=', e.repository)
          .executeTakeFirst();
        if (!repo) return;
        const at = now();
        const items = [...(await work(tx, repo, at)), ...endpointDeliveries(e, action, at)];
        await enqueue(tx, items);
        queued = items.length;
      });
      if (queued > 0) options.queued?.();
    } catch (err) {
      options.log.error({ err, repository: e.repository, action }, 'recording a registry event failed');
    }
  };

  const webhookDeliveries = async (
    tx: MetadataDb,
    e: ManifestEvent,
    repo: RepoRow,
    action: 'push' | 'delete',
    at: string,
  ): Promise<NewDelivery[]> =>
    (await webhooksFor(tx, repo.id, action)).map((hook) => ({
      webhookId: hook.id,
      url: hook.url,
      event: action,
      payload: hubPayload(e, repo, action, at, hook.id),
      contentType: 'application/json',
    }));

  return {
    onManifestPushed: (e) =>
      handle(e, 'push', async (tx, repo, at) => {
        await tx.updateTable('repositories').set({ last_pushed_at: at }).where('id', '=', repo.id).execute();
        // Webhooks fire for tags, as on Docker Hub: the platform manifests of an index pushed by
        // digest are part of the tag's push, not pushes of their own.
        if (!e.tag) return [];
        await tx
          .updateTable('tags')
          .set({ pushed_at: at })
          .where('repository_id', '=', repo.id)
          .where('name', '=', e.tag)
          .execute();
        await recordTagPush(tx, { repositoryId: repo.id, repository: repo.name, tag: e.tag, digest: e.digest, at });
        return webhookDeliveries(tx, e, repo, 'push', at);
      }),
    onManifestPulled: async (e) => {
      // A pull is a GET of a tag's manifest (what `docker pull name:tag` does once); the
      // platform manifest it then fetches by digest is the same pull.
      const at = now();
      if (e.tag) options.pulls.record(e.repository, e.tag, at);
      options.pulls.recordManifest(e.repository, e.digest, at);
      if (pullsDelivered) await handle(e, 'pull', async () => []);
    },
    onManifestDeleted: (e) => handle(e, 'delete', (tx, repo, at) => webhookDeliveries(tx, e, repo, 'delete', at)),
    // After the rows are gone (its webhooks with them): the notification endpoints are told.
    onRepositoryDeleted: async ({ repository, request }) => {
      try {
        const e: ManifestEvent = { repository, digest: '', mediaType: '', size: 0, ...(request ? { request } : {}) };
        const items = endpointDeliveries(e, 'delete', now());
        if (items.length === 0) return;
        await enqueue(db, items);
        options.queued?.();
      } catch (err) {
        options.log.error({ err, repository, action: 'delete' }, 'recording a repository delete failed');
      }
    },
  };
}
