// The registry client against Debian's docker-registry (distribution 2.8), the reference
// implementation: the same flows as against Wharf, and its upload Locations, which are absolute
// and carry a `_state` query parameter that must be kept from one request to the next.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { interopDescribe } from '../support/tools.js';
import { HashSink, pushImage, type TestProxy, testBlob, testProxy } from './helpers.js';
import { clientFlows } from './suite.js';

interopDescribe('registry client against the reference registry', ['docker-registry'], () => {
  let registry: ReferenceRegistry;

  beforeAll(async () => {
    registry = await startReferenceRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  describe('shared flows', () => {
    clientFlows(() => ({ host: registry.host, tagPaging: 'none' }), 'ref');
  });

  describe('upload sessions', () => {
    let proxy: TestProxy;
    let client: RegistryClient;

    beforeAll(async () => {
      proxy = await testProxy(registry.host);
      client = new RegistryClient({ host: proxy.host });
    });
    afterAll(async () => {
      await client?.close();
      await proxy?.close();
    });

    it('keeps the _state of each Location through a chunked push, then the image pulls back', async () => {
      const MiB = 1024 * 1024;
      const layer = testBlob(3 * MiB + 17, 'reference layer');
      const mark = proxy.seen.length;
      expect(
        await client.pushBlob('ref/state', layer.digest, layer.size, layer.open, {
          chunkSize: MiB,
          monolithicLimit: MiB,
        }),
      ).toBe('pushed');
      const session = proxy.seen.slice(mark).filter((r) => r.method === 'PATCH' || r.method === 'PUT');
      expect(session.map((r) => r.method)).toEqual(['PATCH', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
      for (const r of session) expect(r.path).toMatch(/[?&]_state=/);
      expect(session.at(-1)?.path).toContain(`&digest=${encodeURIComponent(layer.digest)}`);

      const image = await pushImage(client, 'ref/state', 'v1', [layer]);
      const manifest = await client.getManifest('ref/state', 'v1');
      expect(manifest.digest).toBe(image.digest);
      expect(manifest.bytes.equals(image.bytes)).toBe(true);
      const sink = new HashSink();
      await client.pullBlob('ref/state', layer.digest, layer.size, sink);
      expect(sink.digest()).toBe(layer.digest);
      expect(await client.listTags('ref/state')).toEqual(['v1']);
    });
  });
});
