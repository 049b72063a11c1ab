// Display helpers shared by the pages.
/** `library/x` is shown and pulled as `x`. */
export function pullName(name: string): string {
  return name.startsWith('library/') ? name.slice('library/'.length) : name;
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

/** Counts as Docker Hub shows them: 999, 1.2K, 3.4M, 1.1B (one decimal, dropped when .0; truncated, never rounded up). */
export function abbreviate(n: number): string {
  const steps: [number, string][] = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, unit] of steps) {
    if (n >= size) {
      const tenths = Math.floor((n / size) * 10) / 10;
      return `${tenths % 1 === 0 ? tenths.toFixed(0) : tenths.toFixed(1)}${unit}`;
    }
  }
  return String(n);
}

const UNITS: [string, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "2 hours ago" (the same words as static/wharf.js, which keeps them current). */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (!(seconds >= 0)) return absoluteTime(iso);
  for (const [unit, size] of UNITS) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}

/** `2026-12-07 03:04 UTC`, for the title of a relative time. */
export function absoluteTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
