import { describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { ManifestFormatError, parseManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { isValidRepositoryName, isValidTag } from '../../src/oci/name.js';

describe('digests', () => {
  it('parses sha256 and sha512, refuses anything else', () => {
    const d = digestOf('abc');
    expect(d).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(parseDigest(d)).toEqual({ algorithm: 'sha256', hex: d.slice(7), value: d });
    expect(parseDigest(digestOf('abc', 'sha512'))?.algorithm).toBe('sha512');
    for (const bad of [
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      'sha256',
      '',
      `sha512:${'a'.repeat(64)}`,
    ]) {
      expect(parseDigest(bad)).toBeUndefined();
    }
  });
});

describe('names and tags', () => {
  it('follows the distribution grammar', () => {
    for (const ok of ['a', 'library/ubuntu', 'a.b_c__d-e--f/x', 'a/b/c/d', 'x'.repeat(255)])
      expect(isValidRepositoryName(ok)).toBe(true);
    for (const bad of ['A', '../a', 'a/..', 'a//b', '/a', 'a/', '-a', 'a_', 'a...b', 'x'.repeat(256), 'a b', 'a:b']) {
      expect(isValidRepositoryName(bad)).toBe(false);
    }
    for (const ok of ['latest', 'v1.0', '_x', 'A-b_c.d', 'x'.repeat(128)]) expect(isValidTag(ok)).toBe(true);
    for (const bad of ['-x', '.x', '', 'x'.repeat(129), 'a/b', 'a:b']) expect(isValidTag(bad)).toBe(false);
  });
});

describe('manifest parsing', () => {
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf('l'), size: 1 };
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('c'), size: 1 };
  const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

  it('image manifests: blobs to check, artifact type from config, subject', () => {
    const p = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [desc], subject: desc }),
      '',
    );
    expect(p.kind).toBe('image');
    expect(p.blobs.map((b) => b.digest)).toEqual([cfg.digest, desc.digest]);
    expect(p.artifactType).toBe(cfg.mediaType);
    expect(p.subject?.digest).toBe(desc.digest);
  });

  it('takes the media type from Content-Type when the body has none, and infers an index from its shape', () => {
    expect(
      parseManifest(bytes({ schemaVersion: 2, config: cfg, layers: [] }), MediaType.dockerManifest).mediaType,
    ).toBe(MediaType.dockerManifest);
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), '').mediaType).toBe(MediaType.ociIndex);
  });

  it('refuses schema1, bad JSON, bad descriptors and unknown media types with a reason', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ schemaVersion: 1, fsLayers: [] }, '', /schema1/],
      [
        { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [{ ...desc, digest: 'sha256:zz' }] },
        '',
        /digest/,
      ],
      [
        { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [{ ...desc, size: -1 }] },
        '',
        /size/,
      ],
      [{ schemaVersion: 2, mediaType: 'application/x-thing' }, '', /unsupported manifest media type/],
      [[1, 2], '', /JSON object/],
    ];
    for (const [body, type, reason] of cases) {
      expect(() => parseManifest(bytes(body), type)).toThrow(ManifestFormatError);
      expect(() => parseManifest(bytes(body), type)).toThrow(reason);
    }
    expect(() => parseManifest(Buffer.from('{'), '')).toThrow(/not valid JSON/);
  });
});
