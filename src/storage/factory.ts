import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './drivers/filesystem.js';
import { MemoryDriver } from './drivers/memory.js';

export type StorageConfig = { driver: 'filesystem'; root: string } | { driver: 'memory' };

export function createDriver(config: StorageConfig): StorageDriver {
  switch (config.driver) {
    case 'filesystem':
      return new FilesystemDriver(config.root);
    case 'memory':
      return new MemoryDriver();
  }
}
