// `wharf search`, the daemon's half (hub-and-engine.md §1.1–1.3): split the term into an index
// and a query, ask the index's `/v1/search`, apply the filters after the fetch. Docker's wording
// for every error.
import { Agent, type Dispatcher } from 'undici';
import {
  type BearerChallenge,
  basicHeader,
  type Credentials,
  fetchToken,
  parseWWWAuthenticate,
} from '../client/auth.js';
import { RegistryClientError } from '../client/errors.js';
import { discard, readBytes } from '../client/http.js';
import { isLoopbackHost } from '../oci/reference.js';
import { DaemonError } from './images.js';

/** What Docker calls the official index, and where its search lives. */
export const OFFICIAL_INDEX = 'docker.io';
export const OFFICIAL_INDEX_URL = 'https://index.docker.io/v1/';
export const DEFAULT_SEARCH_LIMIT = 25;
/** The scope a token for searching asks for (what the Docker daemon asks). */
export const SEARCH_SCOPE = 'registry:catalog:search';
const MAX_ANSWER = 16 * 1024 * 1024;

export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchTarget {
  /** `docker.io` or `host[:port]`. */
  index: string;
  /** What is sent as `q`. */
  query: string;
  official: boolean;
}

/**
 * Docker's splitReposSearchTerm: the part before the first `/` names the index when it has a `.`
 * or a `:` or is `localhost`; otherwise the whole term is a Docker Hub query. `library/` is
 * dropped from Hub queries. `defaultIndex` stands for docker.io (Wharf's configurable hub).
 */
export function splitSearchTerm(term: string, defaultIndex: string = OFFICIAL_INDEX): SearchTarget {
  if (term.includes('://')) {
    throw new DaemonError(`invalid repository name: repository name (${term}) should not have a scheme`);
  }
  const slash = term.indexOf('/');
  const first = slash < 0 ? '' : term.slice(0, slash);
  const named = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let index = named ? first : defaultIndex;
  let query = named ? term.slice(slash + 1) : term;
  if (index === 'index.docker.io') index = OFFICIAL_INDEX;
  const official = index === OFFICIAL_INDEX;
  if (official && query.startsWith('library/')) query = query.slice('library/'.length);
  return { index, query, official };
}

/** The parsed `--filter` values, as the daemon validates them (before any request). */
export interface SearchFilters {
  stars?: number;
  isOfficial?: boolean;
  /** `is-automated=true` (deprecated): nothing matches. */
  automatedOnly: boolean;
}

const ACCEPTED_FILTERS = new Set(['stars', 'is-official', 'is-automated']);

/** `true`/`1` or `false`/`0`, one consistent value; else Docker's invalid filter error. */
function boolFilter(key: string, values: string[]): boolean {
  const isTrue = values.some((v) => v === 'true' || v === '1');
  const isFalse = values.some((v) => v === 'false' || v === '0');
  if (isTrue === isFalse) throw new DaemonError(`invalid filter '${key}=${values.join(',')}'`);
  return isTrue;
}

/** `key=value` pairs (already split) into filters; unknown keys and bad values fail as in Docker. */
export function parseSearchFilters(pairs: readonly [string, string][]): SearchFilters {
  const byKey = new Map<string, string[]>();
  for (const [key, value] of pairs) {
    const values = byKey.get(key) ?? [];
    if (!values.includes(value)) values.push(value);
    byKey.set(key, values);
  }
  for (const key of byKey.keys()) if (!ACCEPTED_FILTERS.has(key)) throw new DaemonError(`invalid filter '${key}'`);
  const filters: SearchFilters = { automatedOnly: false };
  const automated = byKey.get('is-automated');
  if (automated) filters.automatedOnly = boolFilter('is-automated', automated);
  const official = byKey.get('is-official');
  if (official) filters.isOfficial = boolFilter('is-official', official);
  for (const value of byKey.get('stars') ?? []) {
    // Go's strconv.Atoi: an optional sign and decimal digits.
    if (!/^[+-]?\d+$/.test(value)) {
      throw new DaemonError(
        `invalid filter 'stars=${value}': strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`,
      );
    }
    filters.stars = Math.max(filters.stars ?? 0, Number(value));
  }
  return filters;
}

/** The daemon's filtering, after the fetch (so --limit caps the results before the filters). */
export function applySearchFilters(results: readonly SearchResult[], filters: SearchFilters): SearchResult[] {
  if (filters.automatedOnly) return [];
  return results
    .filter((r) => filters.isOfficial === undefined || r.is_official === filters.isOfficial)
    .filter((r) => filters.stars === undefined || r.star_count >= filters.stars)
    .map((r) => ({ ...r, is_automated: false }));
}

/** Docker's limit rule: 0 means 25, anything else must be within 1..100. */
export function checkSearchLimit(limit: number): number {
  if (limit === 0) return DEFAULT_SEARCH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new DaemonError(`limit ${limit} is outside the range of [1, 100]`);
  }
  return limit;
}

export interface SearchOptions {
  limit?: number;
  filters?: SearchFilters;
  /** Credentials stored for the index (`wharf login`, or Docker's config.json). */
  credentials?: Credentials;
  /**
   * Plain HTTP allowed and certificates not verified (an insecure registry). Default: loopback
   * hosts. Loopback indexes are asked over http directly, as the registry client does; other
   * insecure ones over https first, then http when https fails at the transport level.
   */
  insecure?: boolean;
  /** The hub standing for docker.io (default docker.io itself). */
  defaultIndex?: string;
  userAgent?: string;
}

/** An answer from the index (not a transport failure): final, no fallback to http. */
class SearchAnswerError extends DaemonError {}

/** The index could not be reached at one endpoint: the next one (http) may be tried. */
class TransportFailure extends Error {}

function transportMessage(url: URL, err: unknown): string {
  return `Get "${url.href}": ${err instanceof Error ? err.message : String(err)}`;
}

/** The Authorization header for the search, as the Docker daemon would send it. */
async function authorization(
  dispatcher: Dispatcher,
  origin: string,
  credentials: Credentials | undefined,
  userAgent: string,
): Promise<string | undefined> {
  if (!credentials) return undefined;
  // Username and password: Basic with the search (the daemon's X-Docker-Token rule).
  if ('username' in credentials) return basicHeader(credentials.username, credentials.password);
  // An identity token: the daemon's v2 path — learn the token challenge from /v2/ and fetch a
  // token for registry:catalog:search with the identity token.
  const res = await dispatcher.request({ origin, path: '/v2/', method: 'GET', headers: { 'user-agent': userAgent } });
  await discard(res.body);
  const bearer = parseWWWAuthenticate(res.headers['www-authenticate']).find(
    (c): c is BearerChallenge => c.scheme === 'bearer',
  );
  if (!bearer) return undefined;
  try {
    const token = await fetchToken({ dispatcher, clientId: 'wharf', userAgent }, credentials, {
      realm: bearer.realm,
      scopes: [SEARCH_SCOPE],
      ...(bearer.service !== undefined ? { service: bearer.service } : {}),
    });
    return `Bearer ${token.token}`;
  } catch (err) {
    // The token server answered (a refused identity token…): final, as an index answer is.
    if (err instanceof RegistryClientError && err.status !== undefined) throw new SearchAnswerError(err.message);
    throw err;
  }
}

/** One GET of `<endpoint>search` (a transport failure throws, to let the caller fall back). */
async function fetchResults(
  dispatcher: Dispatcher,
  endpoint: URL,
  target: SearchTarget,
  limit: number,
  options: SearchOptions,
): Promise<SearchResult[]> {
  const userAgent = options.userAgent ?? 'wharf';
  const url = new URL(`search?q=${encodeURIComponent(target.query)}&n=${limit}`, endpoint);
  const auth = await authorization(dispatcher, endpoint.origin, options.credentials, userAgent).catch((err) => {
    throw err instanceof DaemonError ? err : new TransportFailure(transportMessage(new URL('/v2/', endpoint), err));
  });
  const res = await dispatcher
    .request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: {
        'user-agent': userAgent,
        'x-docker-token': 'true',
        accept: 'application/json',
        ...(auth ? { authorization: auth } : {}),
      },
    })
    .catch((err: unknown) => {
      throw new TransportFailure(transportMessage(url, err));
    });
  if (res.statusCode !== 200) {
    await discard(res.body);
    throw new SearchAnswerError(`unexpected status code ${res.statusCode}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse((await readBytes(res.body, MAX_ANSWER, 'search results')).toString('utf8'));
  } catch (err) {
    throw new SearchAnswerError(`error decoding registry search results: ${(err as Error).message}`);
  }
  const results = (parsed as { results?: unknown }).results;
  if (!Array.isArray(results)) return [];
  return results.map((r: Partial<SearchResult>) => ({
    name: String(r.name ?? ''),
    description: String(r.description ?? ''),
    star_count: Number(r.star_count ?? 0),
    is_official: r.is_official === true,
    is_automated: r.is_automated === true,
  }));
}

/** `docker search TERM`: the results in the index's order, filtered. */
export async function searchIndex(term: string, options: SearchOptions = {}): Promise<SearchResult[]> {
  const target = splitSearchTerm(term, options.defaultIndex);
  const limit = checkSearchLimit(options.limit ?? 0);
  const filters = options.filters ?? { automatedOnly: false };
  const insecure = !target.official && (options.insecure ?? isLoopbackHost(target.index));
  const endpoints =
    target.index === OFFICIAL_INDEX
      ? [new URL(OFFICIAL_INDEX_URL)]
      : (!insecure ? ['https'] : isLoopbackHost(target.index) ? ['http'] : ['https', 'http']).map(
          (scheme) => new URL(`${scheme}://${target.index}/v1/`),
        );
  const agent = new Agent({ connect: { rejectUnauthorized: !insecure } });
  const failures: string[] = [];
  try {
    for (const endpoint of endpoints) {
      try {
        return applySearchFilters(await fetchResults(agent, endpoint, target, limit, options), filters);
      } catch (err) {
        if (!(err instanceof TransportFailure)) throw err;
        failures.push(err.message);
      }
    }
  } finally {
    await agent.close();
  }
  const first = endpoints[0] as URL;
  if (endpoints.length > 1) {
    throw new DaemonError(
      `invalid registry endpoint "${first.href}". HTTPS attempt: ${failures[0]}. HTTP attempt: ${failures[1]}`,
    );
  }
  if (first.protocol === 'https:' && target.index !== OFFICIAL_INDEX) {
    throw new DaemonError(
      `invalid registry endpoint ${first.href}: ${failures[0]}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, add \`--insecure-registry ${target.index}\` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; place the CA certificate at /etc/docker/certs.d/${target.index}/ca.crt`,
    );
  }
  throw new DaemonError(`invalid registry endpoint "${first.href}". HTTP attempt: ${failures[0]}`);
}
