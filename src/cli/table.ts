// docker-style output of list commands.

/**
 * Rows as docker prints them (Go's tabwriter with minwidth 10, padding 3): every column but
 * the last is as wide as its longest cell + 3, at least 10; no trailing blanks.
 */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(10, ...all.map((row) => (row[i] ?? '').length + 3)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 10)))
        .join('')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Output format of list commands: the table, or one JSON object per line (docker's `--format json`). */
export function parseFormat(value: string | undefined): 'table' | 'json' {
  if (value === undefined || value === 'table' || value === 'json') return value ?? 'table';
  throw new Error(`invalid --format ${JSON.stringify(value)}: use table or json`);
}
