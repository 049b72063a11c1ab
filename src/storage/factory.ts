import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './drivers/filesystem.js';
import { MemoryDriver } from './drivers/memory.js';
import type { S3Options } from './drivers/s3.js';

export type StorageConfig =
  | { driver: 'filesystem'; root: string }
  | { driver: 'memory' }
  | ({ driver: 's3' } & S3Options);

/** Async because the S3 driver (the AWS SDK, ~20 MB resident) is loaded only when configured. */
export async function createDriver(config: StorageConfig): Promise<StorageDriver> {
  switch (config.driver) {
    case 'filesystem':
      return new FilesystemDriver(config.root);
    case 'memory':
      return new MemoryDriver();
    case 's3':
      return new (await import('./drivers/s3.js')).S3Driver(config);
  }
}
