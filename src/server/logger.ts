import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

const REDACTED = ['password', '*.password', 'credentials', '*.credentials', 'authorization', '*.authorization'];

/** A pino logger writing JSON lines, or short human lines for `log.format: text`. */
export function createLogger(config: Config['log'], destination?: Writable): Logger {
  // Remote credentials (proxy.remotes) are never logged, whatever object carries them.
  const options = { level: config.level, redact: { paths: REDACTED, censor: '[redacted]' } };
  if (config.format === 'json') return destination ? pino(options, destination) : pino(options);
  const text = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const { time, level, msg, ...rest } = JSON.parse(chunk.toString()) as Record<string, unknown>;
      delete rest.pid;
      delete rest.hostname;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const name = pino.levels.labels[Number(level)] ?? String(level);
      process.stderr.write(
        `${new Date(Number(time)).toISOString()} ${name.toUpperCase()} ${String(msg ?? '')} ${fields}\n`,
      );
      cb();
    },
  });
  return pino(options, text);
}
