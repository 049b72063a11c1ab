import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

const REDACTED = ['password', '*.password', 'credentials', '*.credentials', 'authorization', '*.authorization'];

/** `log.format: auto` means text on a terminal and JSON lines otherwise; `tty` overrides the check. */
export function logFormat(config: Config['log'], tty: boolean = process.stdout.isTTY === true): 'json' | 'text' {
  if (config.format !== 'auto') return config.format;
  return tty ? 'text' : 'json';
}

/**
 * A pino logger writing JSON lines (to stdout, or `destination`), or short human lines to stderr
 * for the text format.
 */
export function createLogger(config: Config['log'], options: { tty?: boolean; destination?: Writable } = {}): Logger {
  // Remote credentials (proxy.remotes) are never logged, whatever object carries them.
  const pinoOptions = { level: config.level, redact: { paths: REDACTED, censor: '[redacted]' } };
  if (logFormat(config, options.tty) === 'json') {
    return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
  }
  const text = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const { time, level, msg, ...rest } = JSON.parse(chunk.toString()) as Record<string, unknown>;
      delete rest.pid;
      delete rest.hostname;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const name = pino.levels.labels[Number(level)] ?? String(level);
      // Local time of day: the date is rarely what a person at a terminal is looking for.
      const at = new Date(Number(time)).toTimeString().slice(0, 8);
      process.stderr.write(`${at} ${name.toUpperCase().padEnd(5)} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`);
      cb();
    },
  });
  return pino(pinoOptions, text);
}
