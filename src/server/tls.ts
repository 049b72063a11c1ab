import { readFile } from 'node:fs/promises';
import { type Config, ConfigError } from './config.js';

/** TLS from `tls.cert`/`tls.key` (PEM files); plain HTTP when neither is set. */
export async function httpsOptions(config: Config): Promise<{ https?: { cert: Buffer; key: Buffer } }> {
  const { cert, key } = config.tls;
  if (!cert && !key) return {};
  if (!cert || !key) throw new ConfigError('tls.cert and tls.key must be set together');
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError(`cannot read TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return { https: { cert: await read(cert, 'certificate'), key: await read(key, 'key') } };
}
