// Kept apart from remotes.ts: the access rules need it without loading the registry client (undici).

/** Whether a pull-through cache serves `name` (for access rules, before any remote is opened). */
export function servedByRemote(
  remotes: readonly { prefix?: string | undefined; mirror: boolean }[],
  name: string,
): boolean {
  const prefixes = remotes.flatMap((r) => (r.prefix === undefined ? [] : [r.prefix]));
  if (prefixes.some((p) => name.startsWith(`${p}/`))) return true;
  return !prefixes.includes(name) && remotes.some((r) => r.mirror);
}
