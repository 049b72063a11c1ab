import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The registry, auth and hub suites again with the metadata in PostgreSQL (issue 12): one
// throw-away cluster for the run (test/support/postgres-setup.ts), a fresh database per test
// server (test/support/server.ts). `npm run test:postgres [files…]`.
export default defineConfig({
  test: {
    ...base.test,
    include: [
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
      'test/interop/skopeo.test.ts',
      'test/interop/auth-skopeo.test.ts',
      'test/interop/tls.test.ts',
      'test/interop/plan-limit-docker.test.ts',
      'test/interop/auth-docker.test.ts',
      'test/interop/hub-permissions-docker.test.ts',
      'test/interop/docker.test.ts',
      'test/registry/migrate-storage.test.ts',
      'test/interop/migrate-storage.test.ts',
    ],
    globalSetup: ['test/support/postgres-setup.ts'],
    env: { WHARF_TEST_DATABASE: 'postgres' },
  },
});
