import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The registry, auth and hub suites again with the metadata in PostgreSQL (issue 12): one
// throw-away cluster for the run (test/support/postgres-setup.ts), a fresh database per test
// server (test/support/server.ts). `npm run test:postgres [files…]`.
// Two projects: `postgres` keeps the blobs on the filesystem; `postgres+s3` runs the registry
// interop files (real Docker, skopeo through a `wharf serve`) with the blobs in S3, a bucket per
// data directory in one Swift store for the run (test/support/s3-setup.ts, started only when a
// file of that project runs). Files that look at blob files on disk stay out of it (docs/testing.md).

/** Registry interop files whose servers keep their blobs in S3. */
const S3_FILES = [
  'test/support/server-storage.selftest.test.ts',
  'test/interop/docker.test.ts',
  'test/interop/skopeo.test.ts',
  'test/interop/auth-docker.test.ts',
  'test/interop/auth-skopeo.test.ts',
  'test/interop/hub-permissions-docker.test.ts',
  'test/interop/plan-limit-docker.test.ts',
  'test/interop/docker-search.test.ts',
  'test/interop/reference-parity.test.ts',
  'test/lifecycle/quota-docker.test.ts',
  'test/engine/docker-interop.test.ts',
  'test/engine/pull-resume.test.ts',
  'test/engine/push.test.ts',
  // SIGTERM while uploads are open: here they are multipart uploads in the bucket.
  'test/server/serve-drain.test.ts',
];

const POSTGRES_FILES = [
  'test/http/**/*.test.ts',
  'test/hub/**/*.test.ts',
  'test/auth/**/*.test.ts',
  'test/metadata/**/*.test.ts',
  'test/gc/gc.test.ts',
  'test/gc/fsck.test.ts',
  'test/lifecycle/delete.test.ts',
  'test/lifecycle/storage-ui.test.ts',
  'test/lifecycle/retention.test.ts',
  'test/lifecycle/usage-quota.test.ts',
  'test/server/aborts.test.ts',
  'test/server/sessions.test.ts',
  'test/server/config.test.ts',
  'test/server/streaming.test.ts',
  // A server in another network namespace: it reaches PostgreSQL's socket, not Swift's 127.0.0.1.
  'test/interop/tls.test.ts',
  'test/registry/migrate-storage.test.ts',
  'test/interop/migrate-storage.test.ts',
];

const { globalSetup: _none, include: _all, ...shared } = base.test ?? {};

export default defineConfig({
  test: {
    ...shared,
    // Once for the run (a project's own globalSetup runs only when it has files to run).
    globalSetup: ['test/support/postgres-setup.ts'],
    env: { WHARF_TEST_DATABASE: 'postgres' },
    projects: [
      {
        test: { ...shared, name: 'postgres', include: POSTGRES_FILES, env: { WHARF_TEST_DATABASE: 'postgres' } },
      },
      {
        test: {
          ...shared,
          name: 'postgres+s3',
          include: S3_FILES,
          globalSetup: ['test/support/s3-setup.ts'],
          env: { WHARF_TEST_DATABASE: 'postgres', WHARF_TEST_STORAGE: 's3' },
        },
      },
    ],
  },
});
