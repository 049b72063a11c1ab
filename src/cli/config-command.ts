// `wharf config check`: validates the configuration exactly as `wharf serve` would (file,
// WHARF_ variables, flags) and prints the effective values, secrets masked, with their source.
import { Command } from 'commander';
import { stringify } from 'yaml';
import { configKeys, loadConfigWithSources } from '../server/config.js';
import { flagOverrides, type ServeFlags } from './serve-flags.js';

/** Keys whose values are secrets (or hold them, like request headers with credentials). */
const SECRET = /(^|[._])(password|secret|headers|credentials)($|[._])/;

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Milliseconds as the largest whole unit: 604800000 → 168h (days only when not a whole number of hours). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS) if (unit !== 'd' && ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET.test(k) ? mask(v) : masked(v)]));
  }
  return value;
}

function mask(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.fromEntries(Object.keys(value).map((k) => [k, '********']));
  }
  return value === '' ? '' : '********';
}

/** One line per key: `key: value  # source`, values as one would write them in the file. */
export function describeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): string {
  const { config, sources, file } = loadConfigWithSources({
    ...(flags.config ? { file: flags.config } : {}),
    env,
    overrides: flagOverrides(flags),
  });
  const rows = configKeys().map(({ key, path, kind }) => {
    let value: unknown = config;
    for (const k of path) value = (value as Record<string, unknown>)[k];
    if (kind === 'duration' && typeof value === 'number') value = formatDuration(value);
    if (kind === 'size' && typeof value === 'number') value = formatSize(value);
    value = SECRET.test(key) ? mask(value) : masked(value);
    const text = stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
    const source = sources.get(key) ?? 'default';
    return { key, text, source: source === 'file' ? `file ${file}` : source };
  });
  const width = Math.min(56, Math.max(...rows.map((r) => r.key.length + r.text.length + 2)));
  return [
    `# configuration is valid${file ? ` (file ${file})` : ' (no file)'}`,
    ...rows.map((r) => `${`${r.key}: ${r.text}`.padEnd(width)}  # ${r.source}`),
    '',
  ].join('\n');
}

export function configCommand(): Command {
  const config = new Command('config').description('check the server configuration');
  config
    .command('check')
    .description('validate the configuration and print the effective values and where each comes from')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--addr <host:port>', 'address to listen on, as for wharf serve')
    .option('--data <dir>', 'data directory, as for wharf serve')
    .action((opts: ServeFlags) => {
      process.stdout.write(describeConfig(opts));
    });
  return config;
}
