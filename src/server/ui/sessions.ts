// Web UI sign-in sessions (hub_sessions): the cookie holds a random id, the row holds the
// account and the CSRF token that every form of the session must carry back.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MetadataDb } from '../../metadata/db.js';

export const SESSION_COOKIE = 'wharf_session';
/** Anonymous visitors (sign in, sign up) get a double-submit CSRF cookie instead of a session. */
export const CSRF_COOKIE = 'wharf_csrf';
export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;

export interface UiSession {
  /** The cookie value; the table keeps only its sha256, so a leaked database holds no live sessions. */
  id: string;
  accountId: number;
  csrf: string;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export async function createSession(db: MetadataDb, accountId: number): Promise<UiSession> {
  const session = { id: randomToken(), accountId, csrf: randomToken() };
  const created = new Date();
  await db
    .insertInto('hub_sessions')
    .values({
      id: hashId(session.id),
      account_id: accountId,
      csrf_token: session.csrf,
      created_at: created.toISOString(),
      expires_at: new Date(created.getTime() + SESSION_TTL_MS).toISOString(),
    })
    .execute();
  return session;
}

/** The live session of a cookie value, if any (expired ones are deleted on the way). */
export async function findSession(db: MetadataDb, id: string): Promise<UiSession | undefined> {
  const row = await db
    .selectFrom('hub_sessions')
    .select(['account_id', 'csrf_token', 'expires_at'])
    .where('id', '=', hashId(id))
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.expires_at <= new Date().toISOString()) {
    await deleteSession(db, id);
    return undefined;
  }
  return { id, accountId: row.account_id, csrf: row.csrf_token };
}

export async function deleteSession(db: MetadataDb, id: string): Promise<void> {
  await db.deleteFrom('hub_sessions').where('id', '=', hashId(id)).execute();
}

/** Constant-time comparison of a submitted CSRF token with the expected one. */
export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (!given || expected === '') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
