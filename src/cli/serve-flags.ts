/** `wharf serve`'s -c/--addr/--data, shared with `wharf config check` (which must not load the server). */
export interface ServeFlags {
  config?: string;
  addr?: string;
  data?: string;
}

/** --addr and --data as configuration overrides, named for error messages and `wharf config check`. */
export function flagOverrides(opts: ServeFlags): [string[], unknown, string][] {
  const overrides: [string[], unknown, string][] = [];
  if (opts.addr) overrides.push([['http', 'addr'], opts.addr, '--addr']);
  if (opts.data) overrides.push([['storage', 'root'], opts.data, '--data']);
  return overrides;
}
