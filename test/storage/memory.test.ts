import { MemoryDriver } from '../../src/storage/drivers/memory.js';
import { runDriverSuite } from './driver-suite.js';

runDriverSuite('memory', async () => ({
  driver: new MemoryDriver(),
  cleanup: async () => {},
}));
