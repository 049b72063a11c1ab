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
