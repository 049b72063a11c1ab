// vitest globalSetup of the registry interop files on S3 (the `postgres+s3` project of
// vitest.postgres.config.ts): one Swift store for the run, its S3 endpoint handed to the test
// workers through the environment; test/support/server.ts then gives every test server a bucket
// of its own. A store already named by WHARF_TEST_S3_ENDPOINT (started by hand:
// `npx tsx test/support/swift.ts`) is used as it is and left running.
import { S3_ENDPOINT_ENV, startSwift } from './swift.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  // Not WHARF_TEST_STORAGE here: this process's environment reaches the `postgres` project's workers too.
  if (process.env[S3_ENDPOINT_ENV]) return undefined;
  const store = await startSwift();
  process.env[S3_ENDPOINT_ENV] = store.endpoint;
  return () => store.stop();
}
