// The registry client's transport: one connection pool per registry, the scheme chosen by a
// ping (https, or http for insecure registries), auth challenges answered with Basic credentials
// or cached Bearer tokens, one retry after a 401, redirects, Docker's error rendering. The
// operations (manifests, blobs, tags) in client.ts go through `send`.
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { isLoopbackHost } from '../oci/reference.js';
import {
  type AuthChallenge,
  type BearerChallenge,
  basicHeader,
  type Credentials,
  normalizeScopes,
  parseWWWAuthenticate,
  TokenAuthenticator,
} from './auth.js';
import { errorFromAnswer, RegistryClientError, statusText } from './errors.js';
import { discard, header, readErrorText } from './http.js';

export interface RegistryClientOptions {
  /** `host[:port]` of the registry, as in an image reference (`127.0.0.1:5000`, `registry.example.com`). */
  host: string;
  /**
   * Plain HTTP allowed (and TLS certificates not verified), like a Docker "insecure registry".
   * Defaults to true for loopback hosts (127.0.0.0/8, ::1, localhost), like Docker.
   * Loopback insecure hosts are spoken to over http directly; other insecure hosts over https
   * first (without verification), falling back to http when that fails at the transport level.
   */
  insecure?: boolean;
  credentials?: Credentials;
  userAgent?: string;
  /** Extra CA certificates (PEM) to trust for https. */
  ca?: string | Buffer | (string | Buffer)[];
  /** `client_id` sent to token servers (offline tokens, OAuth2 form). Default `wharf`. */
  clientId?: string;
  /** Time to wait for answer headers, ms (default 5 min, as undici). */
  headersTimeout?: number;
  /** Longest silence within a body, ms (default 5 min, as undici). */
  bodyTimeout?: number;
  /** Sees the status and headers of every registry answer (e.g. a proxy reading rate-limit headers). */
  onAnswer?: (status: number, headers: Dispatcher.ResponseData['headers']) => void;
}

/** What GET /v2/ answered, unauthenticated. */
export interface PingResult {
  /** `https://host` or `http://host`: the scheme that answered. */
  origin: string;
  /** 200 (open) or 401 (authentication required). */
  status: number;
  challenges: AuthChallenge[];
}

const MAX_REDIRECTS = 5;

export type Body = Buffer | string | (() => Readable | Promise<Readable>);

export interface Call {
  method: Dispatcher.HttpMethod;
  /** A path (`/v2/…`) on the registry, or an absolute URL the registry handed out (Location). */
  url: string | URL;
  scopes: readonly string[];
  headers?: Record<string, string>;
  body?: Body;
  /** A function body can be opened again, so the request can be repeated after a 401. */
  replayable?: boolean;
  /** Statuses handed back to the caller; any other is thrown as a RegistryClientError. */
  ok: readonly number[];
  signal?: AbortSignal | undefined;
}

export interface Answer {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects): Location headers resolve against it. */
  url: URL;
}

interface SentAuth {
  header: string;
  bearer?: { challenge: BearerChallenge; scopes: readonly string[]; token: string };
}

/** `Method "url": message`, as Go's net/http reports a transport failure. */
export function transportError(method: string, url: URL, err: unknown): RegistryClientError {
  if (err instanceof RegistryClientError) return err;
  const m = method.charAt(0) + method.slice(1).toLowerCase();
  const message = err instanceof Error ? err.message : String(err);
  return new RegistryClientError(`${m} "${url.href}": ${message}`, { cause: err });
}

/** A URL with `name=value` appended to its query, keeping the rest of the query byte for byte. */
/** Did the connection close before any byte of the answer came back? */
function closedBeforeAnswer(err: unknown): boolean {
  const e = err as { code?: unknown; socket?: { bytesRead?: unknown } } | undefined;
  return e?.code === 'UND_ERR_SOCKET' && e.socket?.bytesRead === 0;
}

export function withQuery(url: URL, name: string, value: string): URL {
  const next = new URL(url.href);
  const pair = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  next.search = url.search.length > 1 ? `${url.search}&${pair}` : `?${pair}`;
  return next;
}

export class RegistryTransport {
  readonly host: string;
  readonly insecure: boolean;
  private readonly agent: Agent;
  private readonly userAgent: string;
  private readonly tokens: TokenAuthenticator;
  private readonly timeouts: { headersTimeout?: number; bodyTimeout?: number };
  private readonly onAnswer: RegistryClientOptions['onAnswer'];
  /** The scheme+host that answered the ping (memoized; cleared when the ping fails). */
  private origin: Promise<string> | undefined;
  /** The challenge learnt from the ping or a 401: how to authenticate the next requests. */
  private challenge: AuthChallenge | undefined;

  constructor(opts: RegistryClientOptions) {
    if (opts.host === '' || /[/\s]/.test(opts.host))
      throw new RegistryClientError(`invalid registry host: ${opts.host}`);
    // Docker Hub's registry API lives on registry-1.docker.io.
    this.host = opts.host === 'docker.io' || opts.host === 'index.docker.io' ? 'registry-1.docker.io' : opts.host;
    this.insecure = opts.insecure ?? isLoopbackHost(this.host);
    this.userAgent = opts.userAgent ?? 'wharf';
    this.onAnswer = opts.onAnswer;
    this.timeouts = {
      ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout } : {}),
      ...(opts.bodyTimeout !== undefined ? { bodyTimeout: opts.bodyTimeout } : {}),
    };
    this.agent = new Agent({
      connect: {
        rejectUnauthorized: !this.insecure,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      },
    });
    this.tokens = new TokenAuthenticator(
      {
        dispatcher: this.agent,
        clientId: opts.clientId ?? 'wharf',
        userAgent: this.userAgent,
        ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout } : {}),
      },
      opts.credentials,
    );
  }

  /** The credentials in use (an identity token rotated by the token server replaces the old one). */
  get credentials(): Credentials | undefined {
    return this.tokens.currentCredentials;
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  // -------------------------------------------------------------------------------------------
  // Ping and login

  /**
   * GET /v2/ without credentials: picks the scheme (for an insecure non-loopback host, https
   * first, http when https fails at the transport level) and learns the auth challenge.
   */
  ping(signal?: AbortSignal): Promise<PingResult> {
    const result = this.probe(signal);
    const origin = result.then((r) => r.origin);
    this.origin = origin;
    origin.catch(() => {
      if (this.origin === origin) this.origin = undefined;
    });
    return result;
  }

  /**
   * `docker login`: ping, then on a Bearer challenge fetch a token with offline access (GET with
   * Basic credentials and `offline_token=true`, or the OAuth2 POST with an identity token) and
   * retry GET /v2/ with it; on a Basic challenge retry with Basic credentials. Returns the identity
   * token (refresh token) the token server gave, to be kept instead of the password.
   */
  async login(signal?: AbortSignal): Promise<{ identityToken?: string }> {
    const creds = this.tokens.currentCredentials;
    if (creds === undefined) throw new RegistryClientError('login needs a username and password or an identity token');
    const ping = await this.ping(signal);
    const url = new URL('/v2/', ping.origin);
    if (ping.status === 200) return {};
    const bearer = ping.challenges.find((c): c is BearerChallenge => c.scheme === 'bearer');
    const basic = ping.challenges.find((c) => c.scheme === 'basic');
    let authorization: string;
    let identityToken: string | undefined;
    if (bearer) {
      this.challenge = bearer;
      // Docker reports a refused token as the failure of GET /v2/ (Go's url.Error around the auth transport).
      const res = await this.tokens
        .fetch({ realm: bearer.realm, service: bearer.service, scopes: [], offline: true })
        .catch((err: unknown) => {
          if (!(err instanceof RegistryClientError)) throw err;
          throw new RegistryClientError(`Get "${url.href}": ${err.message}`, {
            ...(err.status !== undefined ? { status: err.status } : {}),
            errors: [...err.errors],
            cause: err,
          });
        });
      authorization = `Bearer ${res.token}`;
      identityToken = res.refreshToken ?? ('identityToken' in creds ? creds.identityToken : undefined);
    } else if (basic && 'username' in creds) {
      this.challenge = basic;
      authorization = basicHeader(creds.username, creds.password);
    } else {
      throw new RegistryClientError(`login attempt to ${url.href} failed with status: ${statusText(ping.status)}`, {
        status: ping.status,
      });
    }
    const res = await this.request(url, 'GET', { authorization }, undefined, signal);
    await discard(res.body);
    if (res.statusCode !== 200) {
      throw new RegistryClientError(`login attempt to ${url.href} failed with status: ${statusText(res.statusCode)}`, {
        status: res.statusCode,
      });
    }
    return identityToken === undefined ? {} : { identityToken };
  }

  /** The Location of an upload answer, resolved against the URL that answered (query kept, e.g. `_state`). */
  location(res: Answer, fallback?: URL): URL {
    const value = header(res.headers, 'location');
    if (value === undefined || value === '') {
      if (fallback) return fallback;
      throw new RegistryClientError(`registry answered ${res.status} without a Location`, { status: res.status });
    }
    return new URL(value, res.url);
  }

  // -------------------------------------------------------------------------------------------
  // Internals: HTTP

  private async probe(signal: AbortSignal | undefined): Promise<PingResult> {
    const candidates = !this.insecure ? ['https'] : isLoopbackHost(this.host) ? ['http'] : ['https', 'http'];
    let lastError: unknown;
    for (const scheme of candidates) {
      const url = new URL(`${scheme}://${this.host}/v2/`);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.request(url, 'GET', {}, undefined, signal);
      } catch (err) {
        // Only a transport failure (refused, TLS handshake on a plain-HTTP port…) falls back.
        lastError = transportError('GET', url, err);
        continue;
      }
      const challenges = parseWWWAuthenticate(res.headers['www-authenticate']);
      if (res.statusCode !== 200 && res.statusCode !== 401) {
        throw errorFromAnswer(res.statusCode, await readErrorText(res.body));
      }
      await discard(res.body);
      const usable = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
      if (usable) this.challenge = usable;
      return { origin: url.origin, status: res.statusCode, challenges };
    }
    throw lastError ?? new RegistryClientError(`no endpoint for ${this.host}`);
  }

  private ready(signal: AbortSignal | undefined): Promise<string> {
    if (this.origin) return this.origin;
    return this.ping(signal).then((r) => r.origin);
  }

  private request(
    url: URL,
    method: Dispatcher.HttpMethod,
    headers: Record<string, string>,
    body: Buffer | string | Readable | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    return this.agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers: { 'user-agent': this.userAgent, ...headers },
      ...(body !== undefined ? { body } : {}),
      ...(signal !== undefined ? { signal } : {}),
      ...this.timeouts,
    });
  }

  /** The Authorization header for `scopes` under the current challenge (a token from the cache). */
  private async authorization(scopes: readonly string[]): Promise<SentAuth | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = this.tokens.currentCredentials;
      if (creds === undefined || !('username' in creds)) return undefined;
      return { header: basicHeader(creds.username, creds.password) };
    }
    const normalized = normalizeScopes(scopes);
    const token = await this.tokens.token(challenge, normalized);
    return { header: `Bearer ${token.token}`, bearer: { challenge, scopes: normalized, token: token.token } };
  }

  /**
   * One registry request: authorization for its scopes, one retry after a 401 that carries a
   * usable challenge (a fresh token for the request's scopes plus the challenge's, or Basic
   * credentials), redirects followed for GET and HEAD (credentials kept to the registry's origin),
   * statuses outside `ok` thrown as Docker renders them.
   */
  async send(call: Call): Promise<Answer> {
    const origin = await this.ready(call.signal);
    const first = typeof call.url === 'string' ? new URL(call.url, origin) : call.url;
    let url = first;
    let scopes = call.scopes;
    let retried = false;
    let resent = false;
    let redirects = 0;
    const canReplay = call.body === undefined || typeof call.body !== 'function' || call.replayable === true;
    for (;;) {
      const auth = url.origin === first.origin ? await this.authorization(scopes) : undefined;
      const headers: Record<string, string> = { ...call.headers };
      if (auth) headers.authorization = auth.header;
      let res: Dispatcher.ResponseData;
      try {
        const body = typeof call.body === 'function' ? await call.body() : call.body;
        res = await this.request(url, call.method, headers, body, call.signal);
      } catch (err) {
        // A kept-alive connection the server closed before answering: send once more on a fresh
        // one, as Go's (and so Docker's) HTTP client does, when the request can be repeated.
        if (!resent && canReplay && closedBeforeAnswer(err)) {
          resent = true;
          continue;
        }
        throw transportError(call.method, url, err);
      }
      this.onAnswer?.(res.statusCode, res.headers);
      const challenges = res.statusCode === 401 ? parseWWWAuthenticate(res.headers['www-authenticate']) : [];
      if (res.statusCode === 401 && !retried && canReplay) {
        const bearer = challenges.find((c): c is BearerChallenge => c.scheme === 'bearer');
        const basic = challenges.find((c) => c.scheme === 'basic');
        const creds = this.tokens.currentCredentials;
        const basicUsable = basic !== undefined && creds !== undefined && 'username' in creds && !auth;
        if (bearer || basicUsable) {
          await discard(res.body);
          retried = true;
          if (bearer) {
            if (auth?.bearer) this.tokens.invalidate(auth.bearer.challenge, auth.bearer.scopes, auth.bearer.token);
            this.challenge = bearer;
            scopes = normalizeScopes([...scopes, ...bearer.scopes]);
          } else if (basic) {
            this.challenge = basic;
          }
          continue;
        }
      }
      if (
        (call.method === 'GET' || call.method === 'HEAD') &&
        [301, 302, 303, 307, 308].includes(res.statusCode) &&
        header(res.headers, 'location') !== undefined
      ) {
        await discard(res.body);
        if (++redirects > MAX_REDIRECTS) throw new RegistryClientError(`too many redirects from ${first.href}`);
        url = new URL(header(res.headers, 'location') as string, url);
        continue;
      }
      if (call.ok.includes(res.statusCode))
        return { status: res.statusCode, headers: res.headers, body: res.body, url };
      const text = call.method === 'HEAD' ? '' : await readErrorText(res.body);
      if (call.method === 'HEAD') await discard(res.body);
      const bearer = challenges.find((c): c is BearerChallenge => c.scheme === 'bearer' && c.error !== undefined);
      throw errorFromAnswer(
        res.statusCode,
        text,
        bearer?.error !== undefined
          ? {
              error: bearer.error,
              ...(bearer.errorDescription !== undefined ? { description: bearer.errorDescription } : {}),
            }
          : undefined,
      );
    }
  }
}
