// `wharf search`: docker search's flags, table and errors (hub-and-engine.md §1.3–1.4).
import { Command } from 'commander';
import { clientCredentials, findCredentials } from '../engine/credentials.js';
import { effectiveRegistry, isInsecureRegistry, loadRegistrySettings } from '../engine/registry-config.js';
import { parseSearchFilters, type SearchResult, searchIndex, splitSearchTerm } from '../engine/search.js';
import { DEFAULT_DOMAIN } from '../oci/reference.js';
import { run } from './engine-command.js';
import { formatRows, type OutputFormat, parseOutputFormat, type TemplateObject } from './format.js';

const DEFAULT_FORMAT = 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}';
const HEADERS: TemplateObject = {
  Name: 'NAME',
  Description: 'DESCRIPTION',
  StarCount: 'STARS',
  IsOfficial: 'OFFICIAL',
};
const DESCRIPTION_WIDTH = 45;
const AUTOMATED_WARNING =
  'WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.';

/** A flag the docker CLI itself would refuse (exit 125, no "Error response from daemon"). */
class FlagError extends Error {}

/** East-Asian wide and fullwidth characters: CJK, kana, Hangul, fullwidth forms, most emoji. */
const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18aff],
  [0x1b000, 0x1b2ff],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function charWidth(ch: string): number {
  const cp = ch.codePointAt(0) ?? 0;
  return WIDE.some(([lo, hi]) => cp >= lo && cp <= hi) ? 2 : 1;
}

/** docker's formatter.Ellipsis: at most `width` display columns, else width-1 columns and `…`. */
export function ellipsis(text: string, width: number): string {
  const chars = [...text];
  if (chars.reduce((sum, c) => sum + charWidth(c), 0) <= width) return text;
  let used = 0;
  let kept = 0;
  for (const c of chars) {
    if (used + charWidth(c) > width - 1) break;
    used += charWidth(c);
    kept++;
  }
  return `${chars.slice(0, kept).join('')}…`;
}

/** One result as the template sees it; `{{json .}}` gives docker's JSON (true/false, sorted keys). */
function row(r: SearchResult, trunc: boolean): TemplateObject {
  let description = r.description.replaceAll('\n', ' ').replaceAll('\r', ' ');
  if (trunc) description = ellipsis(description, DESCRIPTION_WIDTH);
  const value: TemplateObject = {
    Name: r.name,
    Description: description,
    StarCount: String(r.star_count),
    IsOfficial: r.is_official ? '[OK]' : '',
  };
  Object.defineProperty(value, 'toJSON', {
    enumerable: false,
    value: () => ({
      Description: description,
      IsOfficial: String(r.is_official),
      Name: r.name,
      StarCount: String(r.star_count),
    }),
  });
  return value;
}

/** docker's `--limit` int flag. */
function parseLimit(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^[+-]?\d+$/.test(value)) {
    throw new FlagError(
      `invalid argument ${JSON.stringify(value)} for "--limit" flag: strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`,
    );
  }
  return Number(value);
}

/** docker's `--filter name=value` (name lowercased, both trimmed). */
function parseFilterFlags(values: readonly string[]): [string, string][] {
  return values.map((v) => {
    const eq = v.indexOf('=');
    if (eq < 0) {
      throw new FlagError(
        `invalid argument ${JSON.stringify(v)} for "-f, --filter" flag: bad format of filter (expected name=value)`,
      );
    }
    return [v.slice(0, eq).trim().toLowerCase(), v.slice(eq + 1).trim()];
  });
}

interface SearchFlags {
  limit?: string;
  filter: string[];
  /** false with --no-trunc. */
  trunc: boolean;
  format?: string;
}

async function runSearch(term: string, opts: SearchFlags): Promise<void> {
  let limit: number;
  let pairs: [string, string][];
  let format: OutputFormat;
  try {
    limit = parseLimit(opts.limit);
    pairs = parseFilterFlags(opts.filter);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nSee 'wharf search --help'.\n`);
    process.exitCode = 125;
    return;
  }
  try {
    format = parseOutputFormat(opts.format, DEFAULT_FORMAT);
  } catch (err) {
    // Checked by the docker CLI itself: no "Error response from daemon".
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  if (pairs.some(([key]) => key === 'is-automated')) process.stderr.write(`${AUTOMATED_WARNING}\n`);
  await run(async () => {
    const filters = parseSearchFilters(pairs);
    const settings = await loadRegistrySettings();
    const defaultIndex = effectiveRegistry(settings, DEFAULT_DOMAIN);
    const target = splitSearchTerm(term, defaultIndex);
    const entry = await findCredentials(target.index);
    const credentials = clientCredentials(entry);
    const results = await searchIndex(term, {
      limit,
      filters,
      defaultIndex,
      insecure: await isInsecureRegistry(settings, target.index),
      ...(credentials ? { credentials } : {}),
    });
    process.stdout.write(
      formatRows(
        format,
        results.map((r) => row(r, opts.trunc)),
        HEADERS,
      ),
    );
  }, true);
}

/** `wharf search`. */
export function searchCommand(): Command {
  return new Command('search')
    .description('search a registry (Docker Hub by default) for images')
    .argument('<term>', 'TERM, or HOST[:PORT]/TERM for another registry')
    .option('--limit <n>', 'max number of search results (default 25)')
    .option(
      '-f, --filter <filter>',
      'filter output: stars=N, is-official=BOOL',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', 'table, json, or a Go template')
    .action(async (term: string, opts: SearchFlags) => runSearch(term, opts));
}

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [searchCommand()];
}
