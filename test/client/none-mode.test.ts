// The registry client against a real `wharf serve` without access control.
import { afterAll, beforeAll, describe } from 'vitest';
import { startWharf, type WharfProcess } from '../support/server.js';
import { clientFlows } from './suite.js';

describe('registry client against Wharf (auth none)', () => {
  let wharf: WharfProcess;

  beforeAll(async () => {
    wharf = await startWharf({ env: { WHARF_LIMITS_TAGS_MAX_ENTRIES: '2' } });
  });
  afterAll(async () => {
    await wharf?.cleanup();
  });

  clientFlows(() => ({ host: wharf.host, tagPaging: 'server' }), 'none');
});
