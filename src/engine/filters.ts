// docker's `--filter key=value` arguments and the matchers shared by images and image prune.

import { familiarOfFullName } from '../oci/reference.js';
import { DaemonError } from './errors.js';

/** Filter values by key, as the daemon receives them (`map[key]map[value]bool`). */
export type Filters = Map<string, string[]>;

/** docker's filters.ParseFlag: `key=value` (key lowercased, both trimmed) into the map. */
export function parseFilterFlags(args: readonly string[]): Filters {
  const filters: Filters = new Map();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq === -1) throw new Error('bad format of filter (expected name=value)');
    const key = arg.slice(0, eq).trim().toLowerCase();
    const value = arg.slice(eq + 1).trim();
    filters.set(key, [...(filters.get(key) ?? []), value]);
  }
  return filters;
}

/** `invalid filter 'x'` for a key the command does not accept. */
export function checkFilterKeys(filters: Filters, accepted: readonly string[]): void {
  for (const key of filters.keys()) if (!accepted.includes(key)) throw new DaemonError(`invalid filter '${key}'`);
}

/** docker's MatchKVList: every `k` or `k=v` value must match the labels (true when no such filter). */
function matchKVList(values: readonly string[] | undefined, labels: Record<string, string>): boolean {
  if (values === undefined || values.length === 0) return true;
  if (Object.keys(labels).length === 0) return false;
  return values.every((v) => {
    const eq = v.indexOf('=');
    if (eq === -1) return Object.hasOwn(labels, v);
    const key = v.slice(0, eq);
    return Object.hasOwn(labels, key) && labels[key] === v.slice(eq + 1);
  });
}

/** `label=` must all match; `label!=` (prune) must not all match. */
export function labelsMatch(filters: Filters, labels: Record<string, string>): boolean {
  if (!matchKVList(filters.get('label'), labels)) return false;
  const not = filters.get('label!');
  if (not !== undefined && not.length > 0 && matchKVList(not, labels)) return false;
  return true;
}

const GO_DURATION = /^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * docker's timetypes.GetTimestamp for `until=`/`since=` values: a Go duration before now (`24h`,
 * `1h30m`), Unix seconds (`1700000000.5`), or an RFC 3339 time or date. Milliseconds since the epoch.
 */
export function parseUntil(value: string, now = Date.now()): number {
  if (GO_DURATION.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/([0-9]*(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)/g)) {
      ms += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    }
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new DaemonError(`failed to parse value as time or duration: "${value}"`);
  return parsed;
}

/** Go's path.Match, as reference filters use it: `*` and `?` do not cross `/`. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) throw new DaemonError('syntax error in pattern');
      const body = pattern.slice(i + 1, end);
      re += `[${body.startsWith('^') ? `^/${body.slice(1)}` : body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern.charAt(++i)}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's reference= filter on a tag or digest reference: the familiar and full forms, with and without the tag. */
export function referenceMatches(pattern: RegExp, name: string, suffix: string): boolean {
  const short = familiarOfFullName(name);
  return [`${short}${suffix}`, short, `${name}${suffix}`, name].some((s) => pattern.test(s));
}
