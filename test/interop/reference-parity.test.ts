// Side by side with the reference registry (Debian's docker-registry, i.e.
// Distribution 2.8.2): the same sequence of raw /v2 requests, including the
// failing ones, must give the same status codes and the same `errors[].code`
// lists from both servers, and the same key headers and listing bodies.
//
// The table below is the sequence. Each step runs against the reference first,
// then against Wharf. A parity step checks that both answers agree with each
// other and with the step's expectation (so a change on either side shows up).
// A step with `differs` is a documented, deliberate difference: each side is
// checked against its own expected behaviour and `why` says why Wharf differs.
// Those fall in three groups:
//   - required by the issue: DELETE of a tag untags, invalid names answer 400
//     NAME_INVALID, the referrers API and `?tag=` exist;
//   - where 2.8 lags current Distribution (v3) and the OCI distribution spec
//     v1.1, which Wharf follows (see reference/registry-anchors.md §1–2):
//     monolithic POST, PATCH Content-Range checks, sorted and paginated tag
//     lists, PAGINATION_NUMBER_INVALID for a bad `n`;
//   - 2.8 artefacts that are not behaviour to copy: the `_state` upload token,
//     an upload that survives a digest mismatch because the cleanup fails, the
//     plain-text 416 of Go's http.ServeContent, and OCI manifests refused to
//     clients that accept anything.
import { createHash } from 'node:crypto';
import { getGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Per-server values captured by earlier steps (upload locations differ between servers). */
type Vars = Record<string, string>;

interface Side {
  label: 'reference' | 'wharf';
  url: string;
  vars: Vars;
}

interface Outcome {
  status: number;
  codes: string[];
  headers: Record<string, string | undefined>;
  body: Buffer;
  /** Why the body could not be read to its announced end, if it could not. */
  bodyError?: string;
}

/** What one server is expected to answer. */
interface Expected {
  status: number;
  /** `errors[].code` of the body, in order; [] when the body is not an error envelope. */
  codes: string[];
}

interface Step {
  name: string;
  method: Method;
  path: string | ((v: Vars) => string);
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Parity step: both servers must answer this. */
  expect?: Expected;
  /** Headers that both servers must send (values may differ, e.g. Location). */
  present?: string[];
  /** Headers whose values must be equal on both servers. */
  same?: string[];
  /** The response bodies must be equal: parsed JSON or raw bytes. */
  compareBody?: 'json' | 'bytes';
  /** The JSON body both servers must send (checked in addition to equality). */
  json?: unknown;
  /** Saves the Location of the answer (path + query) under this name, on each server that sends one. */
  saveLocation?: string;
  /** A deliberate difference: each side has its own expectation, and the reason. */
  differs?: { reference: Expected; wharf: Expected; why: string };
  /** Further assertions on both answers. */
  check?: (reference: Outcome, wharf: Outcome) => void;
}

// ---------------------------------------------------------------- content

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const bytes = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251));

const REPO = 'parity/app';
const MOUNTED = 'parity/mounted';
const SOLO = 'parity/solo';

const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const CONFIG_DIGEST = sha256(CONFIG);
/** Layer pushed in chunks. */
const LAYER = bytes(300, 7);
const LAYER_DIGEST = sha256(LAYER);
/** Pushed with a monolithic POST. */
const MONO = bytes(70, 5);
const MONO_DIGEST = sha256(MONO);
/** A blob never pushed anywhere. */
const MISSING = bytes(64, 99);
const MISSING_DIGEST = sha256(MISSING);
/** A blob pushed to be deleted. */
const DOOMED = bytes(50, 3);
const DOOMED_DIGEST = sha256(DOOMED);
/** A blob pushed to SOLO only, for the mount of a blob the source lacks. */
const SOLO_BLOB = bytes(40, 11);
const SOLO_DIGEST = sha256(SOLO_BLOB);
/** A well-formed digest that matches nothing we send. */
const WRONG_DIGEST = sha256('not the content');
const UNKNOWN_UUID = '0b5d7d36-5a7e-4d7c-9a53-3f3c3f0c2e11';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

function ociManifest(layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG_DIGEST, size: CONFIG.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }),
  );
}

function dockerManifest(layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: CONFIG_DIGEST,
        size: CONFIG.length,
      },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
    }),
  );
}

const OCI = ociManifest([{ digest: LAYER_DIGEST, size: LAYER.length }]);
const OCI_DIGEST = sha256(OCI);
const DOCKER = dockerManifest([{ digest: LAYER_DIGEST, size: LAYER.length }]);
const DOCKER_DIGEST = sha256(DOCKER);
/** Config and layer present in REPO, one layer missing: one error. */
const OCI_ONE_MISSING = ociManifest([
  { digest: LAYER_DIGEST, size: LAYER.length },
  { digest: MISSING_DIGEST, size: MISSING.length },
]);
const DOCKER_ONE_MISSING = dockerManifest([{ digest: MISSING_DIGEST, size: MISSING.length }]);
/** Pushed where neither the config nor the layer exists: two errors. */
const OCI_TWO_MISSING = ociManifest([{ digest: MISSING_DIGEST, size: MISSING.length }]);
/** A second OCI manifest (no layers), pushed by digest. */
const OCI_BY_DIGEST = ociManifest([]);
const OCI_BY_DIGEST_DIGEST = sha256(OCI_BY_DIGEST);

const octet = { 'Content-Type': 'application/octet-stream' };
const ociType = { 'Content-Type': OCI_MANIFEST };
const dockerType = { 'Content-Type': DOCKER_MANIFEST };
const acceptBoth = { Accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` };

/** Adds query parameters to a saved location, which may already have a query (the reference's `_state`). */
function q(name: string, params: Record<string, string>): (v: Vars) => string {
  return (v) => {
    const location = at(name)(v);
    return `${location}${location.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
  };
}

function at(name: string): (v: Vars) => string {
  return (v) => {
    const location = v[name];
    if (location === undefined) throw new Error(`no saved location ${name} (an earlier step failed)`);
    return location;
  };
}

function tagsOf(o: Outcome): string[] {
  const body = JSON.parse(o.body.toString('utf8')) as { tags?: unknown };
  if (!Array.isArray(body.tags)) throw new Error(`no tags array in ${o.body.toString('utf8')}`);
  return body.tags.map(String);
}

const sorted = (list: string[]): string[] => [...list].sort();

const ok = (status: number): Expected => ({ status, codes: [] });
const err = (status: number, ...codes: string[]): Expected => ({ status, codes });

// ---------------------------------------------------------------- the sequence

const steps: Step[] = [
  // Base
  { name: 'GET /v2/', method: 'GET', path: '/v2/', expect: ok(200), compareBody: 'json', json: {} },

  // POST then PUT ?digest= with the whole body (the monolithic form every registry supports)
  {
    name: 'POST starts an upload for the config blob',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
    saveLocation: 'upConfig',
  },
  {
    name: 'PUT ?digest= with the whole blob completes it',
    method: 'PUT',
    path: q('upConfig', { digest: CONFIG_DIGEST }),
    headers: octet,
    body: CONFIG,
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'HEAD the config blob',
    method: 'HEAD',
    path: `/v2/${REPO}/blobs/${CONFIG_DIGEST}`,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Length'],
  },

  // Monolithic POST ?digest=
  {
    name: '[documented difference] monolithic POST ?digest= with the blob',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/?digest=${MONO_DIGEST}`,
    headers: octet,
    body: MONO,
    differs: {
      reference: ok(202),
      wharf: ok(201),
      why:
        'OCI distribution-spec v1.1 end-4b and Distribution v3 (registry-anchors §1.1) complete a POST ?digest= ' +
        'in one request (201). 2.8.2 ignores the digest, drops the body and opens an empty session (202), which ' +
        'the spec also allows; clients then fall back to POST+PUT, so both work with every client.',
    },
    check: (ref, wh) => {
      expect(ref.headers['docker-upload-uuid']).toBeDefined();
      expect(wh.headers['docker-content-digest']).toBe(MONO_DIGEST);
    },
  },
  {
    name: '[documented difference] HEAD the monolithically pushed blob',
    method: 'HEAD',
    path: `/v2/${REPO}/blobs/${MONO_DIGEST}`,
    differs: {
      reference: ok(404),
      wharf: ok(200),
      why: 'follows from the previous step: only Wharf stored the blob.',
    },
  },

  // Chunked upload: POST, PATCH with and without Content-Range, status, bad PUTs, PUT ?digest=
  {
    name: 'POST starts a chunked upload',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range', 'Content-Length'],
    saveLocation: 'up1',
  },
  {
    name: 'GET upload status of the empty upload (Range 0-0)',
    method: 'GET',
    path: at('up1'),
    expect: ok(204),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
  },
  {
    name: 'PATCH the first chunk with Content-Range 0-99',
    method: 'PATCH',
    path: at('up1'),
    headers: { ...octet, 'Content-Range': '0-99' },
    body: LAYER.subarray(0, 100),
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
    saveLocation: 'up1',
  },
  {
    name: 'PATCH the rest without Content-Range',
    method: 'PATCH',
    path: at('up1'),
    headers: octet,
    body: LAYER.subarray(100),
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
    saveLocation: 'up1',
  },
  {
    name: 'GET upload status after all chunks',
    method: 'GET',
    path: at('up1'),
    expect: ok(204),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
  },
  {
    name: 'HEAD upload status',
    method: 'HEAD',
    path: at('up1'),
    expect: ok(204),
    same: ['Range'],
  },
  {
    name: 'PUT with a malformed digest is 400 DIGEST_INVALID',
    method: 'PUT',
    path: q('up1', { digest: 'sha256:not-a-digest' }),
    expect: err(400, 'DIGEST_INVALID'),
  },
  {
    name: 'PUT without a digest is 400 DIGEST_INVALID',
    method: 'PUT',
    path: at('up1'),
    expect: err(400, 'DIGEST_INVALID'),
  },
  {
    name: 'the upload survives a malformed or missing digest',
    method: 'GET',
    path: at('up1'),
    expect: ok(204),
    same: ['Range'],
  },
  {
    name: 'PUT ?digest= completes the chunked upload',
    method: 'PUT',
    path: q('up1', { digest: LAYER_DIGEST }),
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'the completed upload is gone (404 BLOB_UPLOAD_UNKNOWN)',
    method: 'GET',
    path: at('up1'),
    expect: err(404, 'BLOB_UPLOAD_UNKNOWN'),
  },

  // Content-Range checks, on a session of their own since 2.8 ignores the header
  {
    name: 'POST starts an upload for the range checks',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    saveLocation: 'upRange',
  },
  {
    name: 'PATCH Content-Range 0-9',
    method: 'PATCH',
    path: at('upRange'),
    headers: { ...octet, 'Content-Range': '0-9' },
    body: DOOMED.subarray(0, 10),
    expect: ok(202),
    same: ['Range'],
    saveLocation: 'upRange',
  },
  {
    name: '[documented difference] PATCH out of order (Content-Range 5-8) is 416 RANGE_INVALID',
    method: 'PATCH',
    path: at('upRange'),
    headers: { ...octet, 'Content-Range': '5-8' },
    body: DOOMED.subarray(5, 9),
    // 2.8.2 accepts the chunk and moves its `_state` on; keep following its Location.
    saveLocation: 'upRange',
    differs: {
      reference: ok(202),
      wharf: err(416, 'RANGE_INVALID'),
      why:
        'The OCI spec (end-5, "416 when out of order") and Distribution v3 (registry-anchors §1.1, chunked ' +
        'upload rules) refuse a chunk whose start is not the current size. 2.8.2 does not read Content-Range at ' +
        'all ("TODO: support Content-Range" in its blobupload.go) and appends the bytes, corrupting the upload.',
    },
  },
  {
    name: '[documented difference] PATCH Content-Length not matching Content-Range is 400 SIZE_INVALID',
    method: 'PATCH',
    path: at('upRange'),
    headers: { ...octet, 'Content-Range': '10-59' },
    body: DOOMED.subarray(10, 20),
    saveLocation: 'upRange',
    differs: {
      reference: ok(202),
      wharf: err(400, 'SIZE_INVALID'),
      why:
        'Distribution v3 answers SIZE_INVALID when Content-Length is not end-start+1 (registry-anchors §1.1). ' +
        '2.8.2 ignores Content-Range and appends.',
    },
  },
  {
    name: '[documented difference] upload status after the refused chunks',
    method: 'GET',
    path: at('upRange'),
    differs: { reference: ok(204), wharf: ok(204), why: 'only Wharf refused the two chunks.' },
    check: (ref, wh) => {
      expect(ref.headers.range).toBe('0-23');
      expect(wh.headers.range).toBe('0-9');
    },
  },
  { name: 'DELETE the range-check upload', method: 'DELETE', path: at('upRange'), expect: ok(204) },

  // Wrong digest: refused, and the session is dropped
  {
    name: 'POST starts an upload to complete with a wrong digest',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    saveLocation: 'up2',
  },
  {
    name: 'PATCH a chunk into it',
    method: 'PATCH',
    path: at('up2'),
    headers: octet,
    body: DOOMED,
    expect: ok(202),
    same: ['Range'],
    saveLocation: 'up2',
  },
  {
    name: 'PUT with a wrong digest is 400 DIGEST_INVALID',
    method: 'PUT',
    path: q('up2', { digest: WRONG_DIGEST }),
    expect: err(400, 'DIGEST_INVALID'),
  },
  {
    name: '[documented difference] the upload is cancelled after a digest mismatch',
    method: 'GET',
    path: at('up2'),
    differs: {
      reference: ok(204),
      wharf: err(404, 'BLOB_UPLOAD_UNKNOWN'),
      why:
        'Distribution cancels the upload after a failed commit ("Clean up the backend blob data if there was ' +
        'an error"), but on 2.8.2 that cleanup fails ("error canceling upload after error: already closed" in ' +
        'its log) and the session lives on. DESIGN.md: a digest mismatch deletes the temp data.',
    },
  },
  {
    name: 'the mismatched content is not visible under the claimed digest',
    method: 'HEAD',
    path: `/v2/${REPO}/blobs/${WRONG_DIGEST}`,
    expect: ok(404),
  },

  // Cancel, then use the cancelled session
  {
    name: 'POST starts an upload to cancel',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    saveLocation: 'up3',
  },
  { name: 'DELETE cancels the upload (204)', method: 'DELETE', path: at('up3'), expect: ok(204) },
  {
    name: 'GET a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN',
    method: 'GET',
    path: at('up3'),
    expect: err(404, 'BLOB_UPLOAD_UNKNOWN'),
  },
  {
    name: 'PATCH a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN',
    method: 'PATCH',
    path: at('up3'),
    headers: octet,
    body: DOOMED,
    expect: err(404, 'BLOB_UPLOAD_UNKNOWN'),
  },
  {
    name: 'PUT a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN',
    method: 'PUT',
    path: q('up3', { digest: DOOMED_DIGEST }),
    headers: octet,
    body: DOOMED,
    expect: err(404, 'BLOB_UPLOAD_UNKNOWN'),
  },
  {
    name: 'DELETE a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN',
    method: 'DELETE',
    path: at('up3'),
    expect: err(404, 'BLOB_UPLOAD_UNKNOWN'),
  },

  // A session id the server never issued
  ...(['GET', 'PATCH', 'PUT', 'DELETE'] as const).map(
    (method): Step => ({
      name: `[documented difference] ${method} an upload uuid the server never issued is 404`,
      method,
      path: `/v2/${REPO}/blobs/uploads/${UNKNOWN_UUID}${method === 'PUT' ? `?digest=${DOOMED_DIGEST}` : ''}`,
      ...(method === 'PATCH' || method === 'PUT' ? { headers: octet, body: DOOMED } : {}),
      differs: {
        reference: err(404, 'BLOB_UPLOAD_INVALID'),
        wharf: err(404, 'BLOB_UPLOAD_UNKNOWN'),
        why:
          'Same status. 2.8.2 first checks the HMAC `_state` query parameter it puts in its own Locations and ' +
          'answers BLOB_UPLOAD_INVALID when it is absent; Wharf has no `_state` token (its Location is the bare ' +
          'session URL) and answers what the OCI spec prescribes for an unknown session, BLOB_UPLOAD_UNKNOWN. ' +
          'With a genuine but dead session (cancelled, completed) both say BLOB_UPLOAD_UNKNOWN, see above.',
      },
    }),
  ),

  // Blob reads
  {
    name: 'HEAD a known blob',
    method: 'HEAD',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Length'],
  },
  {
    name: 'GET a known blob',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Length'],
    compareBody: 'bytes',
    check: (ref) => expect(ref.body.equals(LAYER)).toBe(true),
  },
  { name: 'HEAD an unknown blob is 404', method: 'HEAD', path: `/v2/${REPO}/blobs/${MISSING_DIGEST}`, expect: ok(404) },
  {
    name: 'GET an unknown blob is 404 BLOB_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${MISSING_DIGEST}`,
    expect: err(404, 'BLOB_UNKNOWN'),
  },
  {
    name: 'GET a blob through an unknown repository is 404 BLOB_UNKNOWN',
    method: 'GET',
    path: `/v2/parity/nowhere/blobs/${LAYER_DIGEST}`,
    expect: err(404, 'BLOB_UNKNOWN'),
  },
  {
    name: 'GET a blob by a malformed digest is 400 DIGEST_INVALID',
    method: 'GET',
    path: `/v2/${REPO}/blobs/sha256:0123456789abcdef0123456789abcdef0123`,
    expect: err(400, 'DIGEST_INVALID'),
  },
  {
    name: 'Range GET bytes=10-19 is 206 with those bytes',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    headers: { Range: 'bytes=10-19' },
    expect: ok(206),
    same: ['Content-Range', 'Content-Length'],
    compareBody: 'bytes',
    check: (ref) => expect(ref.body.equals(LAYER.subarray(10, 20))).toBe(true),
  },
  {
    name: 'Range GET with an open end (bytes=290-)',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    headers: { Range: 'bytes=290-' },
    expect: ok(206),
    same: ['Content-Range', 'Content-Length'],
    compareBody: 'bytes',
  },
  {
    name: 'Range GET of a suffix (bytes=-5)',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    headers: { Range: 'bytes=-5' },
    expect: ok(206),
    same: ['Content-Range', 'Content-Length'],
    compareBody: 'bytes',
  },
  {
    name: '[documented difference] unsatisfiable Range GET is 416 (body)',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${LAYER_DIGEST}`,
    headers: { Range: 'bytes=1000-2000' },
    differs: {
      reference: ok(416),
      wharf: err(416, 'RANGE_INVALID'),
      why:
        'Same status and Content-Range. Distribution serves blob bytes with Go http.ServeContent, whose 416 ' +
        'has a plain-text body (and on 2.8.2 a Content-Length of the whole blob that it never sends); ' +
        'DESIGN.md requires the OCI JSON envelope for every /v2 error, so Wharf answers RANGE_INVALID.',
    },
    check: (ref, wh) => {
      // 2.8.2 even announces the blob's length and closes the connection after a text body.
      expect(ref.headers['content-type']).toMatch(/^text\/plain/);
      expect(wh.bodyError).toBeUndefined();
      expect(ref.headers['content-range']).toBe(`bytes */${LAYER.length}`);
      expect(wh.headers['content-range']).toBe(ref.headers['content-range']);
    },
  },

  // Manifests: refused ones
  {
    name: 'PUT OCI manifest with a missing layer is 400 MANIFEST_BLOB_UNKNOWN',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/missing`,
    headers: ociType,
    body: OCI_ONE_MISSING,
    expect: err(400, 'MANIFEST_BLOB_UNKNOWN'),
  },
  {
    name: 'PUT Docker schema2 manifest with a missing layer is 400 MANIFEST_BLOB_UNKNOWN',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/missing`,
    headers: dockerType,
    body: DOCKER_ONE_MISSING,
    expect: err(400, 'MANIFEST_BLOB_UNKNOWN'),
  },
  {
    name: 'PUT manifest with two missing blobs (new repository) lists one error per blob',
    method: 'PUT',
    path: '/v2/parity/ghost/manifests/v1',
    headers: ociType,
    body: OCI_TWO_MISSING,
    expect: err(400, 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN'),
  },
  {
    name: 'the refused manifest did not create the repository',
    method: 'GET',
    path: '/v2/parity/ghost/tags/list',
    expect: err(404, 'NAME_UNKNOWN'),
  },
  {
    name: 'PUT malformed JSON is 400 MANIFEST_INVALID',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/broken`,
    headers: ociType,
    body: '{"schemaVersion": 2, "config": ',
    expect: err(400, 'MANIFEST_INVALID'),
  },
  {
    name: 'the refused manifests left no tag behind',
    method: 'GET',
    path: `/v2/${REPO}/manifests/missing`,
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'PUT by digest with a mismatching digest is 400 DIGEST_INVALID',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/${OCI_DIGEST}`,
    headers: ociType,
    body: OCI_BY_DIGEST,
    expect: err(400, 'DIGEST_INVALID'),
  },

  // Manifests: stored and read back
  {
    name: 'PUT OCI manifest by tag',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/v1`,
    headers: ociType,
    body: OCI,
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'PUT Docker schema2 manifest by tag',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/docker`,
    headers: dockerType,
    body: DOCKER,
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'PUT by the right digest',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/${OCI_BY_DIGEST_DIGEST}`,
    headers: ociType,
    body: OCI_BY_DIGEST,
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  ...['alpha', 'beta', 'gamma'].map(
    (tag): Step => ({
      name: `PUT the OCI manifest as tag ${tag}`,
      method: 'PUT',
      path: `/v2/${REPO}/manifests/${tag}`,
      headers: ociType,
      body: OCI,
      expect: ok(201),
      same: ['Docker-Content-Digest'],
    }),
  ),
  {
    name: 'GET OCI manifest by tag',
    method: 'GET',
    path: `/v2/${REPO}/manifests/v1`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Type', 'Content-Length'],
    compareBody: 'bytes',
    check: (ref) => expect(ref.headers['docker-content-digest']).toBe(OCI_DIGEST),
  },
  {
    name: 'HEAD OCI manifest by tag',
    method: 'HEAD',
    path: `/v2/${REPO}/manifests/v1`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Type', 'Content-Length'],
  },
  {
    name: 'GET Docker manifest by tag',
    method: 'GET',
    path: `/v2/${REPO}/manifests/docker`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Type', 'Content-Length'],
    compareBody: 'bytes',
  },
  {
    name: 'GET OCI manifest by digest',
    method: 'GET',
    path: `/v2/${REPO}/manifests/${OCI_DIGEST}`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Type', 'Content-Length'],
    compareBody: 'bytes',
  },
  {
    name: 'HEAD Docker manifest by digest',
    method: 'HEAD',
    path: `/v2/${REPO}/manifests/${DOCKER_DIGEST}`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Type', 'Content-Length'],
  },
  {
    name: 'GET OCI manifest by tag, Accept listing only Docker schema2, is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/manifests/v1`,
    headers: { Accept: DOCKER_MANIFEST },
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: '[documented difference] GET OCI manifest by tag with Accept: */*',
    method: 'GET',
    path: `/v2/${REPO}/manifests/v1`,
    headers: { Accept: '*/*' },
    differs: {
      reference: err(404, 'MANIFEST_UNKNOWN'),
      wharf: ok(200),
      why:
        'Distribution serves an OCI manifest only when the OCI type is named in Accept, so a client that ' +
        'accepts anything (*/*, as curl sends) gets "OCI manifest found, but accept header does not support ' +
        'OCI manifests" — a 404 for content it has. RFC 9110 §12.5.1: */* accepts any type. Wharf keeps the ' +
        'refusal for clients that list only other types (step above) and serves */*.',
    },
  },
  {
    name: '[documented difference] GET OCI manifest by digest, Accept listing only Docker schema2',
    method: 'GET',
    path: `/v2/${REPO}/manifests/${OCI_DIGEST}`,
    headers: { Accept: DOCKER_MANIFEST },
    differs: {
      reference: err(404, 'MANIFEST_UNKNOWN'),
      wharf: ok(200),
      why:
        'A digest names exact bytes, which cannot be negotiated into another type (Distribution says so itself ' +
        'for manifest lists by digest). Wharf applies the Accept check to tags only; Distribution 404s.',
    },
  },
  {
    name: 'GET an unknown tag is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/manifests/nope`,
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'HEAD an unknown tag is 404',
    method: 'HEAD',
    path: `/v2/${REPO}/manifests/nope`,
    headers: acceptBoth,
    expect: ok(404),
  },
  {
    name: 'GET an unknown digest is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/manifests/${MISSING_DIGEST}`,
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'GET a manifest of an unknown repository is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: '/v2/parity/nowhere/manifests/v1',
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },

  // Tags list
  {
    name: 'tags list (same tags; Wharf sorted)',
    method: 'GET',
    path: `/v2/${REPO}/tags/list`,
    expect: ok(200),
    check: (ref, wh) => {
      expect(sorted(tagsOf(ref))).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      // 2.8.2 lists tags in storage order; Distribution v3 and the OCI spec sort them lexically.
      expect(tagsOf(wh)).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      expect(JSON.parse(wh.body.toString('utf8'))).toMatchObject({ name: REPO });
      expect(JSON.parse(ref.body.toString('utf8'))).toMatchObject({ name: REPO });
    },
  },
  {
    name: '[documented difference] tags list ?n=2: first page, Link to the next',
    method: 'GET',
    path: `/v2/${REPO}/tags/list?n=2`,
    differs: {
      reference: ok(200),
      wharf: ok(200),
      why:
        'Same status. The OCI spec (content discovery) and Distribution v3 honour `n` and `last` and send ' +
        '`Link: <…?n=2&last=beta>; rel="next"`. 2.8.2 ignores both and always returns every tag, no Link.',
    },
    check: (ref, wh) => {
      expect(sorted(tagsOf(ref))).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      expect(ref.headers.link).toBeUndefined();
      expect(tagsOf(wh)).toEqual(['alpha', 'beta']);
      expect(wh.headers.link).toMatch(/^<\/v2\/parity\/app\/tags\/list\?n=2&last=beta>; rel="next"$/);
    },
  },
  {
    name: '[documented difference] tags list ?n=2&last=beta',
    method: 'GET',
    path: `/v2/${REPO}/tags/list?n=2&last=beta`,
    differs: { reference: ok(200), wharf: ok(200), why: 'as above: 2.8.2 ignores `n` and `last`.' },
    check: (ref, wh) => {
      expect(sorted(tagsOf(ref))).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      expect(tagsOf(wh)).toEqual(['docker', 'gamma']);
      expect(wh.headers.link).toBeDefined();
    },
  },
  {
    name: '[documented difference] tags list ?n=2&last=gamma: last page, no Link',
    method: 'GET',
    path: `/v2/${REPO}/tags/list?n=2&last=gamma`,
    differs: { reference: ok(200), wharf: ok(200), why: 'as above: 2.8.2 ignores `n` and `last`.' },
    check: (ref, wh) => {
      expect(sorted(tagsOf(ref))).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      expect(tagsOf(wh)).toEqual(['v1']);
      expect(wh.headers.link).toBeUndefined();
    },
  },
  {
    name: 'tags list of an unknown repository is 404 NAME_UNKNOWN',
    method: 'GET',
    path: '/v2/parity/nowhere/tags/list',
    expect: err(404, 'NAME_UNKNOWN'),
  },

  // Cross-repository mount
  {
    name: 'mount a known blob from another repository is 201',
    method: 'POST',
    path: `/v2/${MOUNTED}/blobs/uploads/?mount=${LAYER_DIGEST}&from=${REPO}`,
    expect: ok(201),
    present: ['Location'],
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'the mounted blob is there',
    method: 'HEAD',
    path: `/v2/${MOUNTED}/blobs/${LAYER_DIGEST}`,
    expect: ok(200),
    same: ['Docker-Content-Digest', 'Content-Length'],
  },
  {
    name: 'POST an upload for a blob of a third repository',
    method: 'POST',
    path: `/v2/${SOLO}/blobs/uploads/`,
    expect: ok(202),
    saveLocation: 'upSolo',
  },
  {
    name: 'PUT that blob',
    method: 'PUT',
    path: q('upSolo', { digest: SOLO_DIGEST }),
    headers: octet,
    body: SOLO_BLOB,
    expect: ok(201),
  },
  {
    name: 'mount of a blob the source repository does not have is 202 (a new upload)',
    method: 'POST',
    path: `/v2/${MOUNTED}/blobs/uploads/?mount=${SOLO_DIGEST}&from=${REPO}`,
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
    same: ['Range'],
    saveLocation: 'up4',
  },
  {
    name: 'the session opened by the failed mount takes the blob',
    method: 'PUT',
    path: q('up4', { digest: SOLO_DIGEST }),
    headers: octet,
    body: SOLO_BLOB,
    expect: ok(201),
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'mount of an unknown blob is 202',
    method: 'POST',
    path: `/v2/${MOUNTED}/blobs/uploads/?mount=${MISSING_DIGEST}&from=${REPO}`,
    expect: ok(202),
    present: ['Location', 'Docker-Upload-UUID'],
  },
  {
    name: 'an upload session alone does not make a repository',
    method: 'POST',
    path: '/v2/parity/pending/blobs/uploads/',
    expect: ok(202),
  },

  // Catalog
  {
    name: 'catalog',
    method: 'GET',
    path: '/v2/_catalog',
    expect: ok(200),
    compareBody: 'json',
    json: { repositories: [REPO, MOUNTED, SOLO] },
  },
  {
    name: 'catalog ?n=1 (Link to the next page)',
    method: 'GET',
    path: '/v2/_catalog?n=1',
    expect: ok(200),
    present: ['Link'],
    compareBody: 'json',
    json: { repositories: [REPO] },
  },
  {
    name: `catalog ?n=1&last=${REPO}`,
    method: 'GET',
    path: `/v2/_catalog?n=1&last=${REPO}`,
    expect: ok(200),
    present: ['Link'],
    compareBody: 'json',
    json: { repositories: [MOUNTED] },
  },
  {
    name: `catalog ?n=5&last=${MOUNTED} (last page)`,
    method: 'GET',
    path: `/v2/_catalog?n=5&last=${MOUNTED}`,
    expect: ok(200),
    compareBody: 'json',
    json: { repositories: [SOLO] },
  },
  {
    name: 'catalog ?n=1000 is accepted',
    method: 'GET',
    path: '/v2/_catalog?n=1000',
    expect: ok(200),
    compareBody: 'json',
  },
  {
    name: 'catalog ?n=1001 is 400 PAGINATION_NUMBER_INVALID',
    method: 'GET',
    path: '/v2/_catalog?n=1001',
    expect: err(400, 'PAGINATION_NUMBER_INVALID'),
  },
  ...['abc', '-1'].map(
    (n): Step => ({
      name: `[documented difference] catalog ?n=${n} is 400 PAGINATION_NUMBER_INVALID`,
      method: 'GET',
      path: `/v2/_catalog?n=${n}`,
      differs: {
        reference: ok(200),
        wharf: err(400, 'PAGINATION_NUMBER_INVALID'),
        why:
          'Distribution v3 (registry/handlers/catalog.go: "if n is negative abort with an error") answers ' +
          'PAGINATION_NUMBER_INVALID for an `n` that is not a non-negative integer; 2.8.2 silently uses its ' +
          'default page size.',
      },
    }),
  ),

  // Deletes
  {
    name: '[documented difference] DELETE manifest by tag untags only',
    method: 'DELETE',
    path: `/v2/${REPO}/manifests/gamma`,
    differs: {
      reference: err(400, 'DIGEST_INVALID'),
      wharf: ok(202),
      why:
        'Required by the issue, as in Distribution v3 and OCI spec end-9: DELETE of a tag removes the tag ' +
        'only. 2.8.2 parses the reference as a digest and answers DIGEST_INVALID.',
    },
  },
  {
    name: '[documented difference] the untagged manifest is still there by digest, the tag is gone',
    method: 'GET',
    path: `/v2/${REPO}/tags/list`,
    differs: { reference: ok(200), wharf: ok(200), why: 'follows from the tag delete above.' },
    check: (ref, wh) => {
      expect(sorted(tagsOf(ref))).toEqual(['alpha', 'beta', 'docker', 'gamma', 'v1']);
      expect(tagsOf(wh)).toEqual(['alpha', 'beta', 'docker', 'v1']);
    },
  },
  {
    name: 'DELETE Docker manifest by digest is 202',
    method: 'DELETE',
    path: `/v2/${REPO}/manifests/${DOCKER_DIGEST}`,
    expect: ok(202),
  },
  {
    name: 'GET the deleted manifest by digest is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/manifests/${DOCKER_DIGEST}`,
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'GET the tag of the deleted manifest is 404 MANIFEST_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/manifests/docker`,
    headers: acceptBoth,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'DELETE the deleted manifest again is 404 MANIFEST_UNKNOWN',
    method: 'DELETE',
    path: `/v2/${REPO}/manifests/${DOCKER_DIGEST}`,
    expect: err(404, 'MANIFEST_UNKNOWN'),
  },
  {
    name: 'the other manifest by digest is untouched',
    method: 'HEAD',
    path: `/v2/${REPO}/manifests/${OCI_DIGEST}`,
    headers: acceptBoth,
    expect: ok(200),
    same: ['Docker-Content-Digest'],
  },
  {
    name: 'POST an upload for a blob to delete',
    method: 'POST',
    path: `/v2/${REPO}/blobs/uploads/`,
    expect: ok(202),
    saveLocation: 'upDoomed',
  },
  {
    name: 'PUT the blob to delete',
    method: 'PUT',
    path: q('upDoomed', { digest: DOOMED_DIGEST }),
    headers: octet,
    body: DOOMED,
    expect: ok(201),
  },
  { name: 'DELETE blob is 202', method: 'DELETE', path: `/v2/${REPO}/blobs/${DOOMED_DIGEST}`, expect: ok(202) },
  { name: 'HEAD the deleted blob is 404', method: 'HEAD', path: `/v2/${REPO}/blobs/${DOOMED_DIGEST}`, expect: ok(404) },
  {
    name: 'GET the deleted blob is 404 BLOB_UNKNOWN',
    method: 'GET',
    path: `/v2/${REPO}/blobs/${DOOMED_DIGEST}`,
    expect: err(404, 'BLOB_UNKNOWN'),
  },
  {
    name: 'DELETE an unknown blob is 404 BLOB_UNKNOWN',
    method: 'DELETE',
    path: `/v2/${REPO}/blobs/${MISSING_DIGEST}`,
    expect: err(404, 'BLOB_UNKNOWN'),
  },

  // Invalid repository names
  {
    name: '[documented difference] uppercase repository name is 400 NAME_INVALID',
    method: 'GET',
    path: '/v2/Parity/App/tags/list',
    differs: {
      reference: ok(404),
      wharf: err(400, 'NAME_INVALID'),
      why:
        'Required by the issue. 2.8.2 routes with a name regexp, so an invalid name matches no route and gets ' +
        'a plain-text "404 page not found"; Wharf says what is wrong in the OCI envelope.',
    },
  },
  {
    name: '[documented difference] repository name with .. is 400 NAME_INVALID',
    method: 'GET',
    path: '/v2/parity/../app/tags/list',
    differs: {
      reference: ok(301),
      wharf: err(400, 'NAME_INVALID'),
      why:
        'Required by the issue. 2.8.2 (gorilla/mux) cleans the path and redirects to /v2/app/tags/list, ' +
        'silently naming another repository; Wharf refuses the name.',
    },
    check: (ref) => expect(ref.headers.location).toBe('/v2/app/tags/list'),
  },

  // Referrers and ?tag=
  {
    name: '[documented difference] referrers API',
    method: 'GET',
    path: `/v2/${REPO}/referrers/${OCI_DIGEST}`,
    differs: {
      reference: ok(404),
      wharf: ok(200),
      why:
        'Required by the issue (OCI spec v1.1 end-12a). Distribution, 2.8 and v3 alike, has no referrers ' +
        'API (registry-anchors §1.1 "Not implemented").',
    },
    check: (_ref, wh) => {
      expect(wh.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
      expect(JSON.parse(wh.body.toString('utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    },
  },
  {
    name: '[documented difference] PUT manifest by digest with ?tag=',
    method: 'PUT',
    path: `/v2/${REPO}/manifests/${OCI_DIGEST}?tag=pinned`,
    headers: ociType,
    body: OCI,
    differs: {
      reference: ok(201),
      wharf: ok(201),
      why:
        'Required by the issue (OCI spec end-7b). Same status, but 2.8.2 ignores `?tag=`: no OCI-Tag header ' +
        'and no tag; Wharf tags the manifest and answers OCI-Tag.',
    },
    check: (ref, wh) => {
      expect(ref.headers['oci-tag']).toBeUndefined();
      expect(wh.headers['oci-tag']).toBe('pinned');
    },
  },
  {
    name: '[documented difference] the ?tag= tag exists on Wharf only',
    method: 'GET',
    path: `/v2/${REPO}/manifests/pinned`,
    headers: acceptBoth,
    differs: {
      reference: err(404, 'MANIFEST_UNKNOWN'),
      wharf: ok(200),
      why: 'follows from the previous step.',
    },
  },
];

// ---------------------------------------------------------------- running

async function send(side: Side, step: Step): Promise<Outcome> {
  // The dispatcher takes the path as is: `request(url)` would resolve `..` before sending it.
  const res = await getGlobalDispatcher().request({
    origin: side.url,
    path: typeof step.path === 'string' ? step.path : step.path(side.vars),
    method: step.method,
    headers: step.headers ?? {},
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    ...(step.body !== undefined ? { body: step.body } : {}),
  });
  let body: Buffer;
  let bodyError: string | undefined;
  try {
    body = Buffer.from(await res.body.arrayBuffer());
  } catch (e) {
    // 2.8.2 announces a Content-Length it does not send on some errors (the 416 of a blob GET).
    body = Buffer.alloc(0);
    bodyError = e instanceof Error ? e.message : String(e);
  }
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: res.statusCode, codes: errorCodes(body), headers, body, ...(bodyError ? { bodyError } : {}) };
}

/** `errors[].code` of an OCI error envelope; [] for any other body. */
function errorCodes(body: Buffer): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null || !('errors' in parsed) || !Array.isArray(parsed.errors)) {
    return [];
  }
  return parsed.errors.map((e: unknown) => (typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '?'));
}

/** The path and query of a Location header, which the reference makes absolute. */
function locationPath(side: Side, location: string | undefined): string | undefined {
  if (location === undefined) return undefined;
  const u = new URL(location, side.url);
  return `${u.pathname}${u.search}`;
}

function summary(o: Outcome): Expected {
  return { status: o.status, codes: o.codes };
}

function describeOutcome(o: Outcome): string {
  const text = o.body
    .subarray(0, 300)
    .toString('utf8')
    .replace(/[^\x20-\x7e]/g, '.');
  return `${o.status} ${JSON.stringify(o.codes)} ${text}`;
}

interopDescribe(
  'reference parity: the same requests give the same answers as docker-registry 2.8',
  ['docker-registry'],
  () => {
    let reference: ReferenceRegistry | undefined;
    let wharf: WharfProcess | undefined;
    const sides: { reference: Side; wharf: Side } = {
      reference: { label: 'reference', url: '', vars: {} },
      wharf: { label: 'wharf', url: '', vars: {} },
    };

    beforeAll(async () => {
      [reference, wharf] = await Promise.all([startReferenceRegistry(), startWharf()]);
      sides.reference.url = reference.url;
      sides.wharf.url = wharf.url;
    });

    afterAll(async () => {
      await Promise.all([reference?.stop(), wharf?.cleanup()]);
    });

    for (const step of steps) {
      it(step.name, async () => {
        const ref = await send(sides.reference, step);
        const wh = await send(sides.wharf, step);
        if (step.saveLocation) {
          for (const [side, o] of [
            [sides.reference, ref],
            [sides.wharf, wh],
          ] as const) {
            const location = locationPath(side, o.headers.location);
            if (location !== undefined) side.vars[step.saveLocation] = location;
          }
        }
        const context = `\n  reference: ${describeOutcome(ref)}\n  wharf:     ${describeOutcome(wh)}`;
        expect(wh.bodyError, `wharf body${context}`).toBeUndefined();
        if (step.differs) {
          expect(summary(ref), `reference${context}`).toEqual(step.differs.reference);
          expect(summary(wh), `wharf${context}`).toEqual(step.differs.wharf);
        } else {
          expect(summary(wh), `wharf vs reference${context}`).toEqual(summary(ref));
          if (step.expect) expect(summary(ref), `expected${context}`).toEqual(step.expect);
        }
        for (const h of step.present ?? []) {
          const key = h.toLowerCase();
          expect(ref.headers[key], `reference header ${h}${context}`).toBeDefined();
          expect(wh.headers[key], `wharf header ${h}${context}`).toBeDefined();
        }
        for (const h of step.same ?? []) {
          const key = h.toLowerCase();
          expect(ref.headers[key], `reference header ${h}${context}`).toBeDefined();
          expect(wh.headers[key], `header ${h}${context}`).toBe(ref.headers[key]);
        }
        if (step.compareBody === 'json') {
          const refJson: unknown = JSON.parse(ref.body.toString('utf8'));
          expect(JSON.parse(wh.body.toString('utf8')), `JSON body${context}`).toEqual(refJson);
          if (step.json !== undefined) expect(refJson, `expected JSON body${context}`).toEqual(step.json);
        }
        if (step.compareBody === 'bytes') expect(wh.body.equals(ref.body), `body bytes${context}`).toBe(true);
        step.check?.(ref, wh);
      });
    }
  },
);
