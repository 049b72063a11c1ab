import { createHmac } from 'node:crypto';
import { lookup as lookupCallback } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Agent } from 'undici';
import { type MetadataDb, now } from '../metadata/db.js';

/**
 * Repository webhooks (issue 6): a POST of Docker Hub's payload to a URL on push (and, if asked,
 * on delete), signed when the webhook has a secret. Deliveries go through the queue in
 * deliveries.ts; this module keeps the webhooks themselves and checks their targets.
 */

export const WEBHOOK_EVENTS = ['push', 'delete'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The signature header: `sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>`, as GitHub's. */
export const SIGNATURE_HEADER = 'X-Wharf-Signature-256';

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A refused webhook: the message says what to change. */
export class WebhookError extends Error {
  override readonly name = 'WebhookError';
}

// Loopback, private, link-local, CGNAT, benchmarking, IETF protocol assignments, documentation,
// multicast and unspecified ranges: a webhook must not turn the server into a proxy towards its
// own network (the documentation ranges are no one's public address either).
const privateRanges = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 3],
] as const)
  privateRanges.addSubnet(net, prefix, 'ipv4');
// IPv6 ranges refused as such. Prefixes that embed an IPv4 address (IPv4-mapped and -compatible,
// NAT64 64:ff9b::/96, 6to4 2002::/16) are decoded and their IPv4 address checked instead
// (embeddedIPv4); the local-use NAT64 prefix and Teredo (whose embedded address is obfuscated)
// are refused whole.
for (const [net, prefix] of [
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  privateRanges.addSubnet(net, prefix, 'ipv6');

/** The 16 bytes of an IPv6 address (as isIP accepts it, zone id allowed), or undefined. */
function ipv6Bytes(ip: string): number[] | undefined {
  // A dotted IPv4 tail becomes its two 16-bit groups: ::ffff:1.2.3.4 → ::ffff:102:304.
  const text = ip
    .replace(/%.*$/, '')
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
      [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(':'),
    );
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined) =>
    part === undefined || part === ''
      ? []
      : part.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? Number.parseInt(g, 16) : -1));
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (fill < 0) return undefined;
  const words = [...head, ...new Array<number>(fill).fill(0), ...rest];
  if (words.length !== 8 || words.some((w) => w < 0)) return undefined;
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, SIIT, NAT64, 6to4), if any. */
export function embeddedIPv4(ip: string): string | undefined {
  const b = ipv6Bytes(ip);
  if (!b) return undefined;
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  // ::a.b.c.d (compatible, also :: and ::1), ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT).
  if (zero(0, 10) && ((b[10] === 0 && b[11] === 0) || (b[10] === 0xff && b[11] === 0xff))) return v4(12);
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return v4(12);
  // 64:ff9b::/96, the well-known NAT64 prefix.
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12);
  // 2002:aabb:ccdd::/48, 6to4.
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2);
  return undefined;
}

export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return true;
  if (family === 4) return privateRanges.check(ip, 'ipv4');
  const bytes = ipv6Bytes(ip);
  if (!bytes) return true;
  const v4 = embeddedIPv4(ip);
  if (v4 !== undefined) return privateRanges.check(v4, 'ipv4');
  // Prefixes that would carry an IPv4 address but do not decode as one (NAT64 64:ff9b::/32 beyond /96).
  if (bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) return true;
  return privateRanges.check(ip.replace(/%.*$/, ''), 'ipv6');
}

/**
 * Checks a webhook target: an http(s) URL without credentials whose host does not resolve to a
 * private address (unless allowed). Returns the URL as it will be used.
 */
export async function validateTarget(raw: string, options: { allowPrivate: boolean }): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookError(`invalid webhook URL ${JSON.stringify(raw)}: use an absolute http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WebhookError(`webhook URLs must be http:// or https://, not ${url.protocol}`);
  if (url.username || url.password) throw new WebhookError('webhook URLs must not contain credentials');
  if (options.allowPrivate) return url.toString();
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : await resolveAll(host);
  const blocked = addresses.find(isPrivateAddress);
  if (blocked !== undefined) {
    throw new WebhookError(
      `webhook target ${url.host} is a loopback, private or link-local address (${blocked}); ` +
        'such targets need webhooks.allow_private_targets: true in the server configuration',
    );
  }
  return url.toString();
}

async function resolveAll(host: string): Promise<string[]> {
  if (host === 'localhost' || host.endsWith('.localhost')) return ['127.0.0.1'];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw new WebhookError(`webhook host ${host} does not resolve`);
  }
}

/**
 * A DNS lookup for connections to webhook targets that refuses private addresses: validateTarget
 * checks a name when it is saved and before each attempt, but the connection resolves it again,
 * and a name may answer differently the second time (DNS rebinding). The check is made on the
 * addresses the socket will connect to.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  lookupCallback(hostname, { ...options, all: true }, (err, addresses) => {
    const done = callback as (e: NodeJS.ErrnoException | null, a?: unknown, f?: number) => void;
    if (err) return done(err);
    const blocked = addresses.find((a) => isPrivateAddress(a.address));
    if (blocked || addresses.length === 0) {
      return done(
        new WebhookError(
          `webhook target ${hostname} resolves to a loopback, private or link-local address (${blocked?.address ?? 'none'}); ` +
            'such targets need webhooks.allow_private_targets: true in the server configuration',
        ),
      );
    }
    if (options.all) return done(null, addresses);
    const first = addresses[0] as { address: string; family: number };
    return done(null, first.address, first.family);
  });
};

let guarded: Promise<Agent> | undefined;
/**
 * The dispatcher webhook deliveries go through when private targets are not allowed
 * (guardedLookup). undici is loaded on the first delivery: a registry without webhooks never
 * carries it.
 */
export function guardedDispatcher(): Promise<Agent> {
  guarded ??= import('undici').then(({ Agent }) => new Agent({ connect: { lookup: guardedLookup } }));
  return guarded;
}

export interface Webhook {
  id: number;
  repositoryId: number;
  name: string;
  url: string;
  events: WebhookEvent[];
  active: boolean;
  /** Whether deliveries are signed; the secret itself is never shown again. */
  hasSecret: boolean;
  createdAt: string;
}

export interface WebhookInput {
  name?: string;
  url?: string;
  /** '' removes the secret. */
  secret?: string;
  events?: string[];
  active?: boolean;
}

type Row = {
  id: number;
  repository_id: number;
  name: string;
  url: string;
  secret: string;
  events: string;
  active: number;
  created_at: string;
};

function toWebhook(row: Row): Webhook {
  return {
    id: row.id,
    repositoryId: row.repository_id,
    name: row.name,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEvent[],
    active: row.active === 1,
    hasSecret: row.secret !== '',
    createdAt: row.created_at,
  };
}

function checkEvents(events: string[]): WebhookEvent[] {
  if (events.length === 0) throw new WebhookError('a webhook needs at least one event (push, delete)');
  for (const e of events)
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(e))
      throw new WebhookError(`unknown webhook event ${JSON.stringify(e)} (use push or delete)`);
  return [...new Set(events)] as WebhookEvent[];
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '' || trimmed.length > 100) throw new WebhookError('a webhook name has 1 to 100 characters');
  return trimmed;
}

function checkSecret(secret: string): string {
  if (secret.length > 256) throw new WebhookError('a webhook secret has at most 256 characters');
  return secret;
}

export async function listWebhooks(db: MetadataDb, repositoryId: number): Promise<Webhook[]> {
  const rows = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .orderBy('id')
    .execute();
  return rows.map(toWebhook);
}

export async function getWebhook(db: MetadataDb, repositoryId: number, id: number): Promise<Webhook | undefined> {
  const row = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toWebhook(row) : undefined;
}

export async function createWebhook(
  db: MetadataDb,
  repositoryId: number,
  input: WebhookInput,
  options: { allowPrivate: boolean },
): Promise<Webhook> {
  if (input.url === undefined) throw new WebhookError('a webhook needs a url');
  const url = await validateTarget(input.url, options);
  const row = await db
    .insertInto('webhooks')
    .values({
      repository_id: repositoryId,
      name: checkName(input.name ?? new URL(url).host),
      url,
      secret: checkSecret(input.secret ?? ''),
      events: JSON.stringify(checkEvents(input.events ?? ['push'])),
      active: input.active === false ? 0 : 1,
      created_at: now(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toWebhook(row);
}

/** Changes the given fields; undefined when the webhook is not in this repository. */
export async function updateWebhook(
  db: MetadataDb,
  repositoryId: number,
  id: number,
  input: WebhookInput,
  options: { allowPrivate: boolean },
): Promise<Webhook | undefined> {
  const changes: Partial<Omit<Row, 'id' | 'repository_id' | 'created_at'>> = {};
  if (input.url !== undefined) changes.url = await validateTarget(input.url, options);
  if (input.name !== undefined) changes.name = checkName(input.name);
  if (input.secret !== undefined) changes.secret = checkSecret(input.secret);
  if (input.events !== undefined) changes.events = JSON.stringify(checkEvents(input.events));
  if (input.active !== undefined) changes.active = input.active ? 1 : 0;
  if (Object.keys(changes).length > 0) {
    await db
      .updateTable('webhooks')
      .set(changes)
      .where('repository_id', '=', repositoryId)
      .where('id', '=', id)
      .execute();
  }
  return getWebhook(db, repositoryId, id);
}

/** Removes a webhook and its delivery history. */
export async function deleteWebhook(db: MetadataDb, repositoryId: number, id: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const hook = await tx
      .selectFrom('webhooks')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!hook) return false;
    const deliveries = tx.selectFrom('deliveries').select('id').where('webhook_id', '=', id);
    await tx.deleteFrom('delivery_attempts').where('delivery_id', 'in', deliveries).execute();
    await tx.deleteFrom('deliveries').where('webhook_id', '=', id).execute();
    await tx.deleteFrom('webhooks').where('id', '=', id).execute();
    return true;
  });
}

/** The active webhooks of a repository that want `event`. */
export async function webhooksFor(
  db: MetadataDb,
  repositoryId: number,
  event: WebhookEvent,
): Promise<Array<{ id: number; url: string }>> {
  const rows = await db
    .selectFrom('webhooks')
    .select(['id', 'url', 'events'])
    .where('repository_id', '=', repositoryId)
    .where('active', '=', 1)
    .execute();
  return rows.filter((r) => (JSON.parse(r.events) as string[]).includes(event));
}

/** The secret of a webhook ('' when unsigned or gone), read at delivery time. */
export async function webhookSecret(db: MetadataDb, id: number): Promise<string> {
  const row = await db.selectFrom('webhooks').select('secret').where('id', '=', id).executeTakeFirst();
  return row?.secret ?? '';
}
