/**
 * Docker image references: the grammar and normalisation that the `docker` CLI
 * and engine apply to `NAME[:TAG][@DIGEST]`, with Docker's error wording.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path
 *   domain     := host [ ":" port ]          host: DNS-like name, IPv4, or "[" IPv6 "]"
 *   path       := component [ "/" component ]*
 *   component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := algorithm ":" hex          (sha256 and sha512 accepted)
 *
 * Normalisation (Docker's `ParseNormalizedNamed`): the first path component is
 * a domain only if it contains `.` or `:`, is `localhost`, or has uppercase
 * letters; otherwise the domain is `docker.io`. `index.docker.io` becomes
 * `docker.io`, and a single-component path on `docker.io` gets `library/`.
 *
 * Where Wharf differs from Docker, on purpose:
 * - `sha384` digests are refused (`unsupported digest algorithm`), as
 *   everywhere else in Wharf.
 * - A dotted first component that is a valid path component but not a valid
 *   host (`my_registry.local/x`) is refused with `invalid reference format`;
 *   Docker returns a reference without any domain there.
 *
 * Pure string handling: nothing here touches the network or the disk.
 */
import { isIP } from 'node:net';
import { parseDigest } from './digest.js';
import { MAX_NAME_LENGTH } from './name.js';

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry domain with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/ubuntu`, `alice/app`. */
  readonly path: string;
  readonly tag?: string;
  /** `algorithm:hex`, validated. */
  readonly digest?: string;
}

/** A malformed reference; the message is Docker's wording. */
export class InvalidReferenceError extends Error {
  override readonly name = 'InvalidReferenceError';
  constructor(
    message: string,
    /** The string that was being parsed. */
    readonly input: string,
  ) {
    super(message);
  }
}

/** The domain of Docker Hub in normalised references. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Docker Hub's legacy name, normalised to {@link DEFAULT_DOMAIN}. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** The host that actually serves the registry API for Docker Hub. */
export const DEFAULT_REGISTRY_HOST = 'registry-1.docker.io';
/** Namespace of official images on Docker Hub. */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** Tag used when a reference has neither tag nor digest. */
export const DEFAULT_TAG = 'latest';

/** Docker's messages, verbatim (distribution/reference and go-digest v1.0.0). */
const MSG = {
  format: 'invalid reference format',
  uppercase: 'repository name must be lowercase',
  tooLong: `repository name must not be more than ${MAX_NAME_LENGTH} characters`,
  digestFormat: 'invalid checksum digest format',
  digestLength: 'invalid checksum digest length',
  digestUnsupported: 'unsupported digest algorithm',
} as const;

// Building blocks of the grammar, as in distribution/reference's regexp.go.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})`;
const DOMAIN_AND_PORT = `${HOST}(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const ANCHORED_DOMAIN_RE = new RegExp(`^(${HOST})(?::([0-9]+))?$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const ID_PREFIX_RE = /^(?:sha256:)?[a-f0-9]{1,64}$/;
/** go-digest's loose digest shape, used only to choose between two of its messages. */
const GO_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** Algorithms go-digest knows, with their hex length; Wharf accepts those that parseDigest accepts. */
const GO_DIGEST_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

/**
 * Parses a reference as `docker pull`, `docker tag` and the engine do, and
 * normalises it (`ubuntu` → `docker.io/library/ubuntu`). No default tag is
 * added: see {@link withDefaultTag}. Throws {@link InvalidReferenceError}.
 */
export function parseReference(input: string): ImageReference {
  if (IDENTIFIER_RE.test(input)) {
    throw new InvalidReferenceError(
      `invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`,
      input,
    );
  }

  const [splitDomain, remainder] = splitDockerDomain(input);
  // Docker checks the case of everything up to the first ':' of the remainder,
  // which for `Name@sha256:…` includes `@sha256`; the message shows it as is.
  const colon = remainder.indexOf(':');
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw new InvalidReferenceError(`${MSG.format}: repository name (${remote}) must be lowercase`, input);
  }

  const full = `${splitDomain}/${remainder}`;
  const match = REFERENCE_RE.exec(full);
  if (!match) {
    const lower = full.toLowerCase();
    throw new InvalidReferenceError(lower !== full && REFERENCE_RE.test(lower) ? MSG.uppercase : MSG.format, input);
  }
  const [, name = '', tag, digest] = match;

  const nameMatch = ANCHORED_NAME_RE.exec(name);
  const domain = nameMatch?.[1];
  const path = nameMatch?.[2];
  // Docker would accept `my_registry.local/x` as a domain-less name; Wharf does not.
  if (domain === undefined || path === undefined) throw new InvalidReferenceError(MSG.format, input);
  if (path.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(MSG.tooLong, input);

  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem) throw new InvalidReferenceError(problem, input);
  }

  return {
    domain,
    path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * Splits off the domain as Docker does: the first component is a domain when
 * it contains `.` or `:`, is `localhost`, or is not all lowercase.
 */
function splitDockerDomain(input: string): [domain: string, remainder: string] {
  const slash = input.indexOf('/');
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + input];

  const first = input.slice(0, slash);
  const rest = input.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (first === 'localhost' || first.includes('.') || first.includes(':') || first.toLowerCase() !== first) {
    [domain, remainder] = [first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first, rest];
  } else {
    [domain, remainder] = [DEFAULT_DOMAIN, input];
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/** Docker's (go-digest v1.0.0) complaint about a digest, or undefined when Wharf accepts it. */
function digestProblem(digest: string): string | undefined {
  if (parseDigest(digest)) return undefined;
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = GO_DIGEST_HEX_LENGTH.get(algorithm);
  if (length === undefined) return GO_DIGEST_RE.test(digest) ? MSG.digestUnsupported : MSG.digestFormat;
  if (hex.length !== length) return MSG.digestLength;
  if (!/^[a-f0-9]+$/.test(hex)) return MSG.digestFormat;
  // Well-formed for Docker, but an algorithm Wharf does not support (sha384).
  return MSG.digestUnsupported;
}

/** Adds the `latest` tag when the reference has neither a tag nor a digest. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return { ...ref, tag: DEFAULT_TAG };
}

/** `docker.io/library/ubuntu`: domain and path, without tag or digest. */
export function fullName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/**
 * The name as Docker shows it: `docker.io/` is dropped, and so is `library/`
 * for a single-component official name (`ubuntu`, `alice/app`,
 * `library/a/b`, `127.0.0.1:5000/x`).
 */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** familiarName of a stored full name (`docker.io/library/ubuntu` → `ubuntu`). */
export function familiarOfFullName(name: string): string {
  const slash = name.indexOf('/');
  return familiarName({ domain: name.slice(0, slash), path: name.slice(slash + 1) });
}

function suffix(ref: ImageReference): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The reference as Docker shows it: `ubuntu:22.04`, `alice/app@sha256:…`, tag and digest both kept. */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** The full form: `docker.io/library/ubuntu:22.04@sha256:…`. */
export function canonicalString(ref: ImageReference): string {
  return fullName(ref) + suffix(ref);
}

/**
 * True when `s` could be a (possibly truncated) image ID: 1–64 lowercase hex
 * digits, optionally after `sha256:`. Only says "could be": the caller still
 * resolves it against the store, after trying it as a name (Docker's order).
 */
export function isImageIdPrefix(s: string): boolean {
  return ID_PREFIX_RE.test(s);
}

/** A registry domain split for networking. */
export interface HostAndPort {
  /** Host name or IP address; an IPv6 address is given without brackets (`::1`). */
  readonly hostname: string;
  /** The explicit port, if the domain has one. */
  readonly port?: number;
}

/** Splits a reference domain (`localhost:5000`, `[::1]:5000`, `example.com`) into host and port. */
export function splitHost(domain: string): HostAndPort {
  const match = ANCHORED_DOMAIN_RE.exec(domain);
  const host = match?.[1];
  if (host === undefined) throw new InvalidReferenceError(MSG.format, domain);
  const hostname = host.startsWith('[') ? host.slice(1, -1) : host;
  const portText = match?.[2];
  if (portText === undefined) return { hostname };
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new InvalidReferenceError(`invalid port in registry address: ${domain}`, domain);
  return { hostname, port };
}

/**
 * The `host[:port]` to send registry API requests to for a reference domain:
 * Docker Hub's `docker.io` is served by `registry-1.docker.io`; every other
 * domain serves itself.
 */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN || domain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_REGISTRY_HOST : domain;
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host.slice(1) : host.slice(1, end);
  }
  const colons = host.split(':').length - 1;
  if (colons === 1) return host.slice(0, host.indexOf(':'));
  return host; // a bare name, or an unbracketed IPv6 literal
}

/** Docker always treats loopback registries as insecure (127.0.0.0/8, ::1; localhost resolves there). */
export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}
