// The shared driver suite against a real S3 server: OpenStack Swift with s3api (test/support/swift.ts),
// started once for this file; each test gets its own key prefix in one bucket.
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { S3Driver } from '../../src/storage/drivers/s3.js';
import { SWIFT_TOOLS, type SwiftStore, startSwift } from '../support/swift.js';
import { interopDescribe } from '../support/tools.js';
import { runDriverSuite } from './driver-suite.js';

interopDescribe('S3 driver on OpenStack Swift (s3api)', SWIFT_TOOLS, () => {
  let store: SwiftStore;
  const bucket = 'wharf-driver-suite';

  beforeAll(async () => {
    store = await startSwift();
    const driver = makeDriver('setup');
    await driver.client.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 120_000);

  afterAll(async () => {
    await store?.stop();
  });

  function makeDriver(prefix: string): S3Driver {
    return new S3Driver({
      bucket,
      region: store.region,
      endpoint: store.endpoint,
      forcePathStyle: true,
      accessKeyId: store.accessKeyId,
      secretAccessKey: store.secretAccessKey,
      prefix,
    });
  }

  runDriverSuite('s3 (Swift)', async () => {
    const driver = makeDriver(`t-${randomUUID()}`);
    return {
      driver,
      cleanup: async () => {
        for (const p of await driver.list('/')) await driver.delete(p);
      },
    };
  });
});
