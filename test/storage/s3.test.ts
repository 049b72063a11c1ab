// The shared driver suite against a real S3 server: OpenStack Swift with s3api (test/support/swift.ts),
// started once for this file; each test gets its own key prefix in one bucket.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect } from 'vitest';
import type { S3Driver } from '../../src/storage/drivers/s3.js';
import { SWIFT_TOOLS, type SwiftStore, startSwift, swiftDriver } from '../support/swift.js';
import { interopDescribe, interopIt } from '../support/tools.js';
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
    return swiftDriver(store.endpoint, bucket, prefix);
  }

  // What a blob pull through the node costs the store (a bill on AWS, a request on any store).
  interopIt('sendTo fetches an object or a span in one request to the store', SWIFT_TOOLS, async () => {
    const driver = makeDriver(`t-${randomUUID()}`);
    await driver.putContent('/blob', Buffer.from('0123456789'));
    const sent: string[] = [];
    driver.client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize' },
    );
    const into = async (span?: { offset: number; length: number }) => {
      const chunks: Buffer[] = [];
      const dest = new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk);
          done();
        },
      });
      await driver.sendTo('/blob', dest, span);
      return Buffer.concat(chunks).toString();
    };
    expect(await into()).toBe('0123456789');
    expect(await into({ offset: 3, length: 4 })).toBe('3456');
    expect(sent).toEqual(['GetObjectCommand', 'GetObjectCommand']);
    await driver.delete('/blob');
  });

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
