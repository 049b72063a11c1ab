// Small helpers over undici answers shared by the token fetcher and the client.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** The first value of a header (undici gives repeated headers as arrays). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a header, repeated headers included. */
export function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * Reads a body as bytes, up to `limit` bytes; beyond that the stream is destroyed and the call fails
 * (`what` names it in the message). For small documents only: manifests, tokens, error bodies.
 */
export async function readBytes(body: Readable, limit: number, what = 'response body'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`${what} larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

/** Reads at most `limit` bytes of an error body as text and discards the rest (never fails). */
export async function readErrorText(body: Readable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (size < limit) chunks.push(buf.subarray(0, limit - size));
      size += buf.length;
    }
  } catch {
    // a broken error body: keep what came
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Lets an unread body go, so that its connection can be reused (or closed). */
export async function discard(body: Readable): Promise<void> {
  const dump = (body as Readable & { dump?: (opts?: { limit: number }) => Promise<void> }).dump;
  try {
    if (dump) await dump.call(body, { limit: 128 * 1024 });
    else body.destroy();
  } catch {
    body.destroy();
  }
}
