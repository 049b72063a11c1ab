import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './drivers/filesystem.js';
import { MemoryDriver } from './drivers/memory.js';
import { S3Driver, type S3Options } from './drivers/s3.js';

export type StorageConfig =
  | { driver: 'filesystem'; root: string }
  | { driver: 'memory' }
  | ({ driver: 's3' } & S3Options);

export function createDriver(config: StorageConfig): StorageDriver {
  switch (config.driver) {
    case 'filesystem':
      return new FilesystemDriver(config.root);
    case 'memory':
      return new MemoryDriver();
    case 's3':
      return new S3Driver(config);
  }
}
