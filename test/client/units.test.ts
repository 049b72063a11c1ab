// Small pure pieces of the client: Link pagination headers and the byte reader behind chunked pushes.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { nextLink } from '../../src/client/client.js';
import { ByteReader } from '../../src/client/streams.js';

describe('Link headers', () => {
  it('finds the rel="next" target, quoted or not, among several links and headers', () => {
    expect(nextLink(['</v2/a/tags/list?n=2&last=b2>; rel="next"'])).toBe('/v2/a/tags/list?n=2&last=b2');
    expect(nextLink(['<https://r.example/v2/_catalog?last=x&n=10>;rel=next'])).toBe(
      'https://r.example/v2/_catalog?last=x&n=10',
    );
    expect(nextLink(['</prev>; rel="prev", </next>; rel="next"'])).toBe('/next');
    expect(nextLink(['</first>; rel="first"', '</n>; title="x"; rel="next"'])).toBe('/n');
    expect(nextLink(['</prev>; rel="prev"'])).toBeUndefined();
    expect(nextLink([])).toBeUndefined();
  });
});

describe('ByteReader', () => {
  const collect = async (it: AsyncIterable<Buffer>) => {
    const parts: Buffer[] = [];
    for await (const p of it) parts.push(p);
    return Buffer.concat(parts).toString();
  };

  it('hands out exact lengths across the source chunks', async () => {
    const reader = new ByteReader(Readable.from([Buffer.from('abc'), Buffer.from('defgh'), Buffer.from('ij')]), 10);
    expect(await collect(reader.take(4))).toBe('abcd');
    expect(await collect(reader.take(4))).toBe('efgh');
    expect(await reader.atEnd()).toBe(false);
    expect(await collect(reader.take(2))).toBe('ij');
    expect(await reader.atEnd()).toBe(true);
  });

  it('fails when the source ends early', async () => {
    const reader = new ByteReader(Readable.from([Buffer.from('abc')]), 5);
    await expect(collect(reader.take(5))).rejects.toThrow('blob content ended after 3 of 5 bytes');
  });
});
