import { describe, expect, it } from 'vitest';
import {
  canonicalString,
  familiarName,
  familiarString,
  fullName,
  type ImageReference,
  InvalidReferenceError,
  isImageIdPrefix,
  parseReference,
  registryHost,
  splitHost,
  withDefaultTag,
} from '../../src/oci/reference.js';

const SHA = `sha256:${'0123456789abcdef'.repeat(4)}`;
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`;
const HEX64 = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';

/** [input, domain, path, tag, digest] — cases from Docker's behaviour and distribution/reference's tests. */
const valid: [string, string, string, string?, string?][] = [
  ['ubuntu', 'docker.io', 'library/ubuntu'],
  ['ubuntu:14.04', 'docker.io', 'library/ubuntu', '14.04'],
  ['library/ubuntu', 'docker.io', 'library/ubuntu'],
  ['docker.io/ubuntu', 'docker.io', 'library/ubuntu'],
  ['docker.io/library/ubuntu', 'docker.io', 'library/ubuntu'],
  ['index.docker.io/library/ubuntu', 'docker.io', 'library/ubuntu'],
  ['index.docker.io/ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04'],
  ['alice/app', 'docker.io', 'alice/app'],
  ['docker.io/alice/app:v1', 'docker.io', 'alice/app', 'v1'],
  ['library/foo/bar', 'docker.io', 'library/foo/bar'],
  ['store/foo/bar', 'docker.io', 'store/foo/bar'],
  ['test_com/foo', 'docker.io', 'test_com/foo'],
  ['localhost/app', 'localhost', 'app'],
  ['localhost:5000/app:1', 'localhost:5000', 'app', '1'],
  // A single component is never a domain, even when it looks like one.
  ['localhost', 'docker.io', 'library/localhost'],
  ['localhost:5000', 'docker.io', 'library/localhost', '5000'],
  ['example.com', 'docker.io', 'library/example.com'],
  ['192.168.0.1', 'docker.io', 'library/192.168.0.1'],
  ['192.168.0.1:80', 'docker.io', 'library/192.168.0.1', '80'],
  ['127.0.0.1:5000/kimcs90610/docker-study:0.0', '127.0.0.1:5000', 'kimcs90610/docker-study', '0.0'],
  ['127.0.0.1:5000/debian', '127.0.0.1:5000', 'debian'],
  ['example.com/a/b/c:tag', 'example.com', 'a/b/c', 'tag'],
  [`example.com/a/b/c:tag@${SHA}`, 'example.com', 'a/b/c', 'tag', SHA],
  ['example.com:8000/private/moonbase', 'example.com:8000', 'private/moonbase'],
  ['test-com:8080/foo', 'test-com:8080', 'foo'],
  ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
  ['[::1]:5000/x', '[::1]:5000', 'x'],
  ['[::1]/x', '[::1]', 'x'],
  ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000', 'library/debian'],
  // An uppercase first component is taken as a domain (Docker does the same).
  ['Foo/bar', 'Foo', 'bar'],
  ['FOO/bar:Tag', 'FOO', 'bar', 'Tag'],
  [`ubuntu@${SHA}`, 'docker.io', 'library/ubuntu', undefined, SHA],
  [`ubuntu:22.04@${SHA}`, 'docker.io', 'library/ubuntu', '22.04', SHA],
  [`alice/app@${SHA512}`, 'docker.io', 'alice/app', undefined, SHA512],
  ['ubuntu:LATEST', 'docker.io', 'library/ubuntu', 'LATEST'],
  ['ubuntu:_x', 'docker.io', 'library/ubuntu', '_x'],
  [`ubuntu:${'t'.repeat(128)}`, 'docker.io', 'library/ubuntu', 't'.repeat(128)],
  ['alice/a.b_c__d-e--f', 'docker.io', 'alice/a.b_c__d-e--f'],
  ['ab_c__d-e--f/x.y', 'docker.io', 'ab_c__d-e--f/x.y'],
  ['docker---rules/docker', 'docker.io', 'docker---rules/docker'],
  ['d/docker', 'docker.io', 'd/docker'],
  [
    'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    'docker.io',
    `library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev`,
  ],
  // 64 hex is refused only as the whole input; with a domain, a namespace or a tag it is a name.
  [`docker.io/${HEX64}`, 'docker.io', `library/${HEX64}`],
  [`alice/${HEX64}`, 'docker.io', `alice/${HEX64}`],
  [`${HEX64}:tag`, 'docker.io', `library/${HEX64}`, 'tag'],
  [HEX64.slice(0, 63), 'docker.io', `library/${HEX64.slice(0, 63)}`],
  // The 255 limit is on the path (library/ included), not on the domain (distribution/reference ≥ 0.6).
  ['a'.repeat(247), 'docker.io', `library/${'a'.repeat(247)}`],
  [`example.com/${'a'.repeat(255)}`, 'example.com', 'a'.repeat(255)],
];

const FORMAT = 'invalid reference format';

/** [input, Docker's message]. */
const invalid: [string, string][] = [
  ['', FORMAT],
  ['UPPER', 'invalid reference format: repository name (library/UPPER) must be lowercase'],
  ['Ubuntu:22.04', 'invalid reference format: repository name (library/Ubuntu) must be lowercase'],
  ['docker/Docker', 'invalid reference format: repository name (docker/Docker) must be lowercase'],
  ['docker.io/docker/Docker', 'invalid reference format: repository name (docker/Docker) must be lowercase'],
  ['localhost:5000/App', 'invalid reference format: repository name (App) must be lowercase'],
  // Docker checks the case of everything before the first ':', digest algorithm included.
  [`Ubuntu@${SHA}`, 'invalid reference format: repository name (library/Ubuntu@sha256) must be lowercase'],
  [
    `ubuntu@SHA256:${SHA.slice(7)}`,
    'invalid reference format: repository name (library/ubuntu@SHA256) must be lowercase',
  ],
  // An uppercase domain that is not a valid host: the whole name fails, lowercase would pass.
  ['Foo_Bar/x', 'repository name must be lowercase'],
  [HEX64, `invalid repository name (${HEX64}), cannot specify 64-byte hexadecimal strings`],
  ['a//b', FORMAT],
  ['docker///docker', FORMAT],
  [':tag', FORMAT],
  ['name:', FORMAT],
  ['name@', FORMAT],
  [`@sha256:${SHA.slice(7)}`, FORMAT],
  ['name@sha256:short', FORMAT],
  ['name@sha256:abc', FORMAT],
  [`ubuntu:${'t'.repeat(129)}`, FORMAT],
  ['ubuntu:-x', FORMAT],
  ['ubuntu:.x', FORMAT],
  ['ubuntu:a:b', FORMAT],
  ['-a', FORMAT],
  ['-docker/docker', FORMAT],
  ['docker-/docker', FORMAT],
  ['-docker.io/docker/docker', FORMAT],
  ['_docker/_docker', FORMAT],
  ['____/____', FORMAT],
  ['dock..er/docker', FORMAT],
  ['dock_.er/docker', FORMAT],
  ['dock-.er/docker', FORMAT],
  ['docker/', FORMAT],
  ['a/', FORMAT],
  ['/a', FORMAT],
  ['a b', FORMAT],
  ['a/../b', FORMAT],
  ['https://github.com/docker/docker', FORMAT],
  ['[fc00::1]', FORMAT],
  ['[fc00::1]:5000', FORMAT],
  ['fc00::1:5000/debian', FORMAT],
  ['[fe80::1%eth0]:5000/debian', FORMAT],
  ['[2001:db8:3:4::192.0.2.33]:5000/debian', FORMAT],
  ['example.com:/x', FORMAT],
  ['example.com:port/x', FORMAT],
  // Docker would accept this as a name without a domain; Wharf refuses it (written down in reference.ts).
  ['my_registry.local/x', FORMAT],
  ['a.b_c/x', FORMAT],
  // Path longer than 255 characters, library/ included.
  ['a'.repeat(248), 'repository name must not be more than 255 characters'],
  [`example.com/${'a'.repeat(256)}`, 'repository name must not be more than 255 characters'],
  [`${'a'.repeat(150)}/${'b'.repeat(150)}:tag`, 'repository name must not be more than 255 characters'],
  // Digests that match the reference grammar but not go-digest (v1.0.0, as vendored by Docker).
  [`ubuntu@sha256:${'a'.repeat(40)}`, 'invalid checksum digest length'],
  [`ubuntu@sha512:${'a'.repeat(64)}`, 'invalid checksum digest length'],
  [`ubuntu@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
  [`ubuntu@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
  [`ubuntu@constructor:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
  [`ubuntu:tag@MD5:${'a'.repeat(32)}`, 'invalid checksum digest format'],
  // Docker accepts sha384; Wharf supports sha256 and sha512 only.
  [`ubuntu@sha384:${'a'.repeat(96)}`, 'unsupported digest algorithm'],
];

function expectInvalid(input: string, message: string): void {
  let error: unknown;
  try {
    parseReference(input);
  } catch (e) {
    error = e;
  }
  expect(error, input).toBeInstanceOf(InvalidReferenceError);
  expect(error).toBeInstanceOf(Error);
  expect((error as InvalidReferenceError).message, input).toBe(message);
  expect((error as InvalidReferenceError).name).toBe('InvalidReferenceError');
  expect((error as InvalidReferenceError).input).toBe(input);
}

describe('parseReference', () => {
  it.each(valid)('parses %j', (input, domain, path, tag, digest) => {
    const ref = parseReference(input);
    const expected: ImageReference = { domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
    expect(ref).toStrictEqual(expected);
  });

  it.each(invalid)('refuses %j', (input, message) => {
    expectInvalid(input, message);
  });

  it('stays fast on hostile input', () => {
    const start = performance.now();
    for (const input of [
      `${'a-'.repeat(5000)}!`,
      `${'a.'.repeat(5000)}/x!`,
      `${'a'.repeat(10_000)}:${'b'.repeat(10_000)}@`,
      `example.com/${'a__'.repeat(3000)}/`,
      `[${':'.repeat(10_000)}`,
      `ubuntu@sha256:${'a'.repeat(100_000)}`,
    ]) {
      expect(() => parseReference(input)).toThrow(InvalidReferenceError);
    }
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('names and strings', () => {
  /** [input, fullName, familiarName, familiarString, canonicalString] */
  const cases: [string, string, string, string, string][] = [
    ['ubuntu', 'docker.io/library/ubuntu', 'ubuntu', 'ubuntu', 'docker.io/library/ubuntu'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu', 'ubuntu', 'ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['index.docker.io/library/ubuntu', 'docker.io/library/ubuntu', 'ubuntu', 'ubuntu', 'docker.io/library/ubuntu'],
    ['docker.io/alice/app', 'docker.io/alice/app', 'alice/app', 'alice/app', 'docker.io/alice/app'],
    [`alice/app@${SHA}`, 'docker.io/alice/app', 'alice/app', `alice/app@${SHA}`, `docker.io/alice/app@${SHA}`],
    [
      `ubuntu:22.04@${SHA}`,
      'docker.io/library/ubuntu',
      'ubuntu',
      `ubuntu:22.04@${SHA}`,
      `docker.io/library/ubuntu:22.04@${SHA}`,
    ],
    ['library/foo/bar', 'docker.io/library/foo/bar', 'library/foo/bar', 'library/foo/bar', 'docker.io/library/foo/bar'],
    ['other/library', 'docker.io/other/library', 'other/library', 'other/library', 'docker.io/other/library'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x', '127.0.0.1:5000/x', '127.0.0.1:5000/x', '127.0.0.1:5000/x'],
    // library/ is stripped only on docker.io.
    [
      'localhost:5000/library/x:1',
      'localhost:5000/library/x',
      'localhost:5000/library/x',
      'localhost:5000/library/x:1',
      'localhost:5000/library/x:1',
    ],
    ['example.com/a/b/c:t', 'example.com/a/b/c', 'example.com/a/b/c', 'example.com/a/b/c:t', 'example.com/a/b/c:t'],
    ['[::1]:5000/x:y', '[::1]:5000/x', '[::1]:5000/x', '[::1]:5000/x:y', '[::1]:5000/x:y'],
  ];

  it.each(cases)('%j', (input, full, familiar, familiarStr, canonical) => {
    const ref = parseReference(input);
    expect(fullName(ref)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
    expect(familiarString(ref)).toBe(familiarStr);
    expect(canonicalString(ref)).toBe(canonical);
    // Round trips: both forms parse back to the same reference.
    expect(parseReference(familiarString(ref))).toStrictEqual(ref);
    expect(parseReference(canonicalString(ref))).toStrictEqual(ref);
  });

  it('round-trips every valid case', () => {
    for (const [input] of valid) {
      const ref = parseReference(input);
      expect(parseReference(canonicalString(ref)), input).toStrictEqual(ref);
      if (familiarString(ref) === HEX64) continue; // see below
      expect(parseReference(familiarString(ref)), input).toStrictEqual(ref);
    }
  });

  it('gives the bare familiar form of docker.io/library/<64 hex>, which does not parse back (as in Docker)', () => {
    const ref = parseReference(`docker.io/${HEX64}`);
    expect(familiarString(ref)).toBe(HEX64);
    expect(() => parseReference(familiarString(ref))).toThrow(/cannot specify 64-byte hexadecimal strings/);
    expect(parseReference(canonicalString(ref))).toStrictEqual(ref);
  });
});

describe('withDefaultTag', () => {
  it.each([
    ['ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
    ['alice/app:v2', 'docker.io/alice/app:v2', 'alice/app:v2'],
    [`alice/app@${SHA}`, `docker.io/alice/app@${SHA}`, `alice/app@${SHA}`],
    [`ubuntu:22.04@${SHA}`, `docker.io/library/ubuntu:22.04@${SHA}`, `ubuntu:22.04@${SHA}`],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
  ])('%j', (input, canonical, familiar) => {
    const ref = withDefaultTag(parseReference(input));
    expect(canonicalString(ref)).toBe(canonical);
    expect(familiarString(ref)).toBe(familiar);
  });

  it('does not change its argument', () => {
    const ref = parseReference('ubuntu');
    withDefaultTag(ref);
    expect(ref.tag).toBeUndefined();
  });
});

describe('isImageIdPrefix', () => {
  it.each([
    ['a', true],
    ['0', true],
    ['4ab4c602aa5e', true],
    [HEX64, true],
    [`sha256:${HEX64}`, true],
    ['sha256:4ab4', true],
    ['', false],
    ['sha256:', false],
    [`${HEX64}0`, false],
    ['4AB4C602AA5E', false],
    ['ubuntu', false],
    ['4ab4c602aa5g', false],
    [`sha512:${HEX64}`, false],
    ['sha256:4ab4:x', false],
    [' 4ab4', false],
  ])('%j → %s', (input, expected) => {
    expect(isImageIdPrefix(input)).toBe(expected);
  });
});

describe('registry host', () => {
  it.each([
    ['docker.io', 'registry-1.docker.io'],
    ['index.docker.io', 'registry-1.docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['ghcr.io', 'ghcr.io'],
    ['[::1]:5000', '[::1]:5000'],
  ])('registryHost(%j) = %j', (domain, host) => {
    expect(registryHost(domain)).toBe(host);
  });

  it.each([
    ['docker.io', { hostname: 'docker.io' }],
    ['localhost', { hostname: 'localhost' }],
    ['localhost:5000', { hostname: 'localhost', port: 5000 }],
    ['127.0.0.1:5000', { hostname: '127.0.0.1', port: 5000 }],
    ['example.com:443', { hostname: 'example.com', port: 443 }],
    ['[::1]:5000', { hostname: '::1', port: 5000 }],
    ['[fc00::1]', { hostname: 'fc00::1' }],
    ['Foo', { hostname: 'Foo' }],
  ])('splitHost(%j)', (domain, expected) => {
    expect(splitHost(domain)).toStrictEqual(expected);
  });

  it.each(['', 'a/b', 'example.com:', 'example.com:x', '::1', '[::1', 'a_b', 'x:0', 'x:65536'])(
    'splitHost refuses %j',
    (domain) => {
      expect(() => splitHost(domain)).toThrow(InvalidReferenceError);
    },
  );

  it('splits the domain of parsed references', () => {
    expect(splitHost(parseReference('[::1]:5000/x').domain)).toStrictEqual({ hostname: '::1', port: 5000 });
    expect(splitHost(registryHost(parseReference('ubuntu').domain))).toStrictEqual({
      hostname: 'registry-1.docker.io',
    });
  });
});
