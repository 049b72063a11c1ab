// Registry authentication as the Docker client does it (hub-and-engine.md §2): the
// WWW-Authenticate challenge, scopes, and tokens from the challenge's realm — GET with Basic
// credentials (`account=`, and `offline_token=true&client_id=…` for a login) or the OAuth2 POST form
// with a refresh (identity) token — cached per realm + service + scope set until shortly before
// they expire.
import type { Dispatcher } from 'undici';
import { errorFromAnswer, RegistryClientError } from './errors.js';
import { readBytes, readErrorText } from './http.js';

// ---------------------------------------------------------------------------------------------
// Challenges

/** `Bearer realm="…",service="…",scope="…"[,error="…"]`: get a token from `realm`. */
export interface BearerChallenge {
  scheme: 'bearer';
  realm: string;
  service?: string;
  /** The scopes the request needed (the `scope` parameter split on spaces). */
  scopes: string[];
  /** `invalid_token` or `insufficient_scope`, when the token sent was not good enough. */
  error?: string;
  errorDescription?: string;
}

/** `Basic realm="…"`: send the username and password with every request. */
export interface BasicChallenge {
  scheme: 'basic';
  realm?: string;
}

export type AuthChallenge = BearerChallenge | BasicChallenge;

/** A challenge as written: the scheme (lowercased) and its parameters (names lowercased). */
export interface RawChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses one WWW-Authenticate value into its challenges (RFC 7235): several challenges may share
 * a header, parameters are `name=token` or `name="quoted, with \"escapes\""`, separated by commas.
 */
export function parseChallengeList(value: string): RawChallenge[] {
  const out: RawChallenge[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(value[i] as string)) i++;
    return value.slice(start, i);
  };
  const readQuoted = (): string => {
    // value[i] is the opening quote
    i++;
    let text = '';
    while (i < n && value[i] !== '"') {
      if (value[i] === '\\' && i + 1 < n) i++;
      text += value[i];
      i++;
    }
    i++; // closing quote (or end)
    return text;
  };
  while (i < n) {
    skipSpace();
    while (i < n && (value[i] === ',' || value[i] === ' ' || value[i] === '\t')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') {
      i++; // not a token character: skip it
      continue;
    }
    const challenge: RawChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipSpace();
      const start = i;
      const name = readToken();
      skipSpace();
      if (name === '' || value[i] !== '=') {
        // Not a parameter: the next challenge starts here (or a token68, which no registry uses).
        i = start;
        if (name === '' && i < n && value[i] !== ',') i++;
        break;
      }
      i++; // '='
      // token68 padding (`abc==`): not a parameter
      if (value[i] === '=') {
        while (i < n && value[i] === '=') i++;
        i = start + name.length;
        while (i < n && value[i] !== ',') i++;
        continue;
      }
      skipSpace();
      const paramValue = value[i] === '"' ? readQuoted() : readToken();
      challenge.params[name.toLowerCase()] = paramValue;
      skipSpace();
      if (value[i] === ',') {
        i++;
        continue;
      }
      break;
    }
  }
  return out;
}

/** The Bearer and Basic challenges of a WWW-Authenticate header (other schemes, and Bearer without realm, dropped). */
export function parseWWWAuthenticate(value: string | string[] | undefined): AuthChallenge[] {
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  const out: AuthChallenge[] = [];
  for (const v of values) {
    for (const raw of parseChallengeList(v)) {
      const p = raw.params;
      if (raw.scheme === 'bearer' && p.realm) {
        const c: BearerChallenge = {
          scheme: 'bearer',
          realm: p.realm,
          scopes: (p.scope ?? '').split(' ').filter((s) => s !== ''),
        };
        if (p.service !== undefined) c.service = p.service;
        if (p.error !== undefined) c.error = p.error;
        if (p.error_description !== undefined) c.errorDescription = p.error_description;
        out.push(c);
      } else if (raw.scheme === 'basic') {
        out.push(p.realm === undefined ? { scheme: 'basic' } : { scheme: 'basic', realm: p.realm });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scopes

/** `repository:NAME:a,b`, the scope of actions on one repository. */
export function repositoryScope(name: string, actions: readonly string[]): string {
  return `repository:${name}:${actions.join(',')}`;
}

/** Splits `type:name:actions` (the name may hold `host:port`, so the actions follow the last colon). */
export function parseScope(scope: string): { resource: string; actions: string[] } | undefined {
  const last = scope.lastIndexOf(':');
  const first = scope.indexOf(':');
  if (first <= 0 || last <= first) return undefined;
  return {
    resource: scope.slice(0, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/**
 * One scope per resource with the union of its actions, actions and resources sorted: equal sets of
 * access give equal lists (and cache keys). Unparseable scopes are kept as they are.
 */
export function normalizeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  const odd = new Set<string>();
  for (const s of scopes) {
    const parsed = parseScope(s);
    if (!parsed) {
      if (s !== '') odd.add(s);
      continue;
    }
    let actions = byResource.get(parsed.resource);
    if (!actions) {
      actions = new Set();
      byResource.set(parsed.resource, actions);
    }
    for (const a of parsed.actions) actions.add(a);
  }
  const out = [...byResource].map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`);
  return [...out, ...odd].sort();
}

// ---------------------------------------------------------------------------------------------
// Credentials and tokens

/** A username and password, or the identity (refresh) token that `login()` returned. */
export type Credentials = { username: string; password: string } | { identityToken: string };

export function hasPassword(c: Credentials | undefined): c is { username: string; password: string } {
  return c !== undefined && 'username' in c && c.username !== '' && c.password !== '';
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** A bearer token and when to stop using it. */
export interface CachedToken {
  token: string;
  /** ms since the epoch (client clock) at which the token expires. */
  expiresAt: number;
  /** ms since the epoch after which the cache fetches a new one (before `expiresAt`). */
  refreshAt: number;
}

/** What a token endpoint answered. */
export interface TokenResponse {
  token: string;
  /** Seconds, at least 60 (as the Docker client treats it). */
  expiresIn: number;
  issuedAt?: string;
  /** Only with offline access: the identity token to keep instead of the password. */
  refreshToken?: string;
}

export const MIN_TOKEN_LIFETIME_S = 60;

/** When a token fetched at `fetchedAt` (sent then) with `expiresIn` seconds stops being used. */
export function tokenTimes(fetchedAt: number, expiresIn: number): { expiresAt: number; refreshAt: number } {
  const lifetime = Math.max(expiresIn, MIN_TOKEN_LIFETIME_S) * 1000;
  const expiresAt = fetchedAt + lifetime;
  // Re-fetch with a quarter of the lifetime (at most 30 s) left, so a request never leaves with a
  // token that expires on the way.
  return { expiresAt, refreshAt: expiresAt - Math.min(30_000, lifetime / 4) };
}

/**
 * Bearer tokens keyed by realm + service + scope set, shared by every request of a client.
 * Concurrent requests for the same key share one fetch; a failed fetch is not cached.
 */
export class TokenCache {
  private readonly entries = new Map<string, { promise: Promise<CachedToken>; value?: CachedToken }>();

  constructor(private readonly now: () => number = Date.now) {}

  static key(realm: string, service: string | undefined, scopes: readonly string[]): string {
    return JSON.stringify([realm, service ?? '', normalizeScopes(scopes)]);
  }

  /** The cached token of `key` while it is fresh, otherwise (once for all callers) `fetch()`'s. */
  get(key: string, fetch: () => Promise<CachedToken>): Promise<CachedToken> {
    const entry = this.entries.get(key);
    if (entry && (entry.value === undefined || this.now() < entry.value.refreshAt)) return entry.promise;
    this.prune();
    const next: { promise: Promise<CachedToken>; value?: CachedToken } = { promise: fetch() };
    this.entries.set(key, next);
    next.promise.then(
      (value) => {
        next.value = value;
      },
      () => {
        if (this.entries.get(key) === next) this.entries.delete(key);
      },
    );
    return next.promise;
  }

  /** Forgets `key`'s token if it is still `token` (a registry refused it); a newer one is kept. */
  invalidate(key: string, token: string): void {
    const entry = this.entries.get(key);
    if (entry?.value?.token === token) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.value && entry.value.expiresAt <= now) this.entries.delete(key);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a token endpoint's JSON answer as the Docker client does. */
export function parseTokenResponse(body: string): TokenResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new RegistryClientError('unable to decode token response: invalid JSON', { cause: err });
  }
  if (!isRecord(parsed)) throw new RegistryClientError('unable to decode token response: not a JSON object');
  const accessToken = typeof parsed.access_token === 'string' ? parsed.access_token : '';
  const token = accessToken !== '' ? accessToken : typeof parsed.token === 'string' ? parsed.token : '';
  if (token === '') throw new RegistryClientError('authorization server did not include a token in the response');
  const expires = typeof parsed.expires_in === 'number' && Number.isFinite(parsed.expires_in) ? parsed.expires_in : 0;
  const out: TokenResponse = { token, expiresIn: Math.max(expires, MIN_TOKEN_LIFETIME_S) };
  if (typeof parsed.issued_at === 'string') out.issuedAt = parsed.issued_at;
  if (typeof parsed.refresh_token === 'string' && parsed.refresh_token !== '') out.refreshToken = parsed.refresh_token;
  return out;
}

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: readonly string[];
  /** `docker login`: ask for offline access, i.e. a refresh token (identity token) in the answer. */
  offline?: boolean;
}

export interface TokenFetchOptions {
  dispatcher: Dispatcher;
  /** `client_id` sent with offline and OAuth2 requests. */
  clientId: string;
  userAgent: string;
  headersTimeout?: number;
}

const MAX_TOKEN_RESPONSE = 1024 * 1024;

function transportError(method: string, url: string, err: unknown): RegistryClientError {
  const message = err instanceof Error ? err.message : String(err);
  return new RegistryClientError(`${method} "${url}": ${message}`, { cause: err });
}

async function tokenAnswer(
  options: TokenFetchOptions,
  method: 'GET' | 'POST',
  url: URL,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  let res: Dispatcher.ResponseData;
  try {
    res = await options.dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers: { 'user-agent': options.userAgent, accept: 'application/json', ...headers },
      ...(body !== undefined ? { body } : {}),
      ...(options.headersTimeout !== undefined ? { headersTimeout: options.headersTimeout } : {}),
    });
  } catch (err) {
    throw transportError(method === 'GET' ? 'Get' : 'Post', url.href, err);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) {
    try {
      const bytes = await readBytes(res.body, MAX_TOKEN_RESPONSE, 'token response');
      return { status: res.statusCode, text: bytes.toString('utf8') };
    } catch (err) {
      throw transportError(method === 'GET' ? 'Get' : 'Post', url.href, err);
    }
  }
  return { status: res.statusCode, text: await readErrorText(res.body) };
}

/** GET realm?service=&scope=…[&account=][&offline_token=true&client_id=], as the Docker daemon asks. */
async function fetchTokenGet(
  options: TokenFetchOptions,
  credentials: Credentials | undefined,
  req: TokenRequest,
): Promise<TokenResponse> {
  const url = new URL(req.realm);
  if (req.service !== undefined && req.service !== '') url.searchParams.append('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  if (hasPassword(credentials)) {
    url.searchParams.append('account', credentials.username);
    headers.authorization = basicHeader(credentials.username, credentials.password);
  }
  if (req.offline) {
    url.searchParams.append('offline_token', 'true');
    url.searchParams.append('client_id', options.clientId);
  }
  const answer = await tokenAnswer(options, 'GET', url, headers);
  if (answer.status < 200 || answer.status >= 300) throw errorFromAnswer(answer.status, answer.text);
  return parseTokenResponse(answer.text);
}

/**
 * POST realm with `grant_type=refresh_token` (the OAuth2 form). A realm without the POST variant
 * answers 404 (or 405): the caller then falls back to GET.
 */
async function fetchTokenPost(
  options: TokenFetchOptions,
  refreshToken: string,
  req: TokenRequest,
): Promise<TokenResponse | 'unsupported'> {
  const url = new URL(req.realm);
  const form = new URLSearchParams();
  form.set('grant_type', 'refresh_token');
  form.set('refresh_token', refreshToken);
  if (req.service !== undefined && req.service !== '') form.set('service', req.service);
  form.set('client_id', options.clientId);
  if (req.offline) form.set('access_type', 'offline');
  form.set('scope', req.scopes.join(' '));
  const answer = await tokenAnswer(
    options,
    'POST',
    url,
    { 'content-type': 'application/x-www-form-urlencoded' },
    form.toString(),
  );
  if (answer.status === 404 || answer.status === 405) return 'unsupported';
  if (answer.status < 200 || answer.status >= 300) throw errorFromAnswer(answer.status, answer.text);
  return parseTokenResponse(answer.text);
}

/**
 * A token for `req`: the OAuth2 POST form when an identity token is held (falling back to an
 * anonymous GET when the realm has no POST), otherwise GET (with Basic credentials when there is a
 * username and password, anonymous otherwise).
 */
export async function fetchToken(
  options: TokenFetchOptions,
  credentials: Credentials | undefined,
  req: TokenRequest,
): Promise<TokenResponse> {
  if (credentials !== undefined && 'identityToken' in credentials && credentials.identityToken !== '') {
    const answer = await fetchTokenPost(options, credentials.identityToken, req);
    if (answer !== 'unsupported') return answer;
    return fetchTokenGet(options, undefined, req);
  }
  return fetchTokenGet(options, credentials, req);
}

/**
 * The token side of one client: its credentials, its cache, one fetch per realm+service+scopes at a
 * time. An identity token rotated by the server (a new `refresh_token` in an answer) replaces the
 * one held, as the Docker client does.
 */
export class TokenAuthenticator {
  readonly cache: TokenCache;
  private credentials: Credentials | undefined;

  constructor(
    private readonly options: TokenFetchOptions,
    credentials: Credentials | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.credentials = credentials;
    this.cache = new TokenCache(now);
  }

  get currentCredentials(): Credentials | undefined {
    return this.credentials;
  }

  get hasPassword(): boolean {
    return hasPassword(this.credentials);
  }

  /** A token for `scopes` from the challenge's realm (cached). */
  token(challenge: BearerChallenge, scopes: readonly string[]): Promise<CachedToken> {
    const normalized = normalizeScopes(scopes);
    const key = TokenCache.key(challenge.realm, challenge.service, normalized);
    return this.cache.get(key, async () => {
      const sentAt = this.now();
      const res = await this.fetch({ realm: challenge.realm, service: challenge.service, scopes: normalized });
      return { token: res.token, ...tokenTimes(sentAt, res.expiresIn) };
    });
  }

  /** Drops `token` for `scopes` from the cache, if it is still the cached one. */
  invalidate(challenge: BearerChallenge, scopes: readonly string[], token: string): void {
    this.cache.invalidate(TokenCache.key(challenge.realm, challenge.service, scopes), token);
  }

  /** An uncached fetch (a login asks for offline access with no scope). */
  async fetch(req: TokenRequest): Promise<TokenResponse> {
    const used = this.credentials;
    const res = await fetchToken(this.options, used, req);
    if (
      res.refreshToken !== undefined &&
      used !== undefined &&
      'identityToken' in used &&
      this.credentials === used &&
      res.refreshToken !== used.identityToken
    ) {
      this.credentials = { identityToken: res.refreshToken };
    }
    return res;
  }
}
