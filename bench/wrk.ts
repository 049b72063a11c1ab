// A neutral load generator next to the in-process client: wrk (C, its own process), so a
// figure does not depend on undici sharing the event loop design of the server it measures.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

export const WRK_BIN = '/usr/bin/wrk';

export interface WrkResult {
  perSec: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  /** Responses other than 2xx/3xx, plus socket errors. */
  errors: number;
}

export function haveWrk(): boolean {
  return existsSync(WRK_BIN);
}

const toMs = (value: string, unit: string): number => {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n; // ms
};

/** Parses wrk's `--latency` report. */
export function parseWrk(out: string): WrkResult {
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk output has no ${p}% latency:\n${out}`);
    return toMs(m[1] as string, m[2] as string);
  };
  if (!rate || !total) throw new Error(`unexpected wrk output:\n${out}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    perSec: Number(rate[1]),
    p50ms: pct('50'),
    p99ms: pct('99'),
    requests: Number(total[1]),
    errors: non2xx + socketErrors,
  };
}

/** `wrk -t2 -c<connections> -d<seconds>s --latency` against one URL, with extra headers. */
export async function wrk(
  url: string,
  headers: Record<string, string>,
  durationS: number,
  connections: number,
): Promise<WrkResult> {
  const args = ['-t2', `-c${connections}`, `-d${durationS}s`, '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await promisify(execFile)(WRK_BIN, [...args, url], { timeout: (durationS + 30) * 1000 });
  const result = parseWrk(stdout);
  if (result.errors > 0) throw new Error(`wrk saw ${result.errors} failed requests of ${result.requests}`);
  return result;
}
