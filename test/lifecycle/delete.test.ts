// Deleting what users expect to delete (issue 11): a tag through /v2 untags only (the manifest
// and its other tags stay); a tag and a manifest through the hub API with their audit entries
// and delete events; a whole repository with every row it had (manifests, tags, blob links, its
// retention policy), an audit entry and Distribution's repository delete event for the
// notification endpoints. In process (fastify.inject), auth.mode token.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { hubServer } from '../support/server.js';
import { apiCall, asPusher, basicAuth } from './helpers.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2' };
const alice = basicAuth('alice', PASSWORDS.alice);
const ENDPOINTS = JSON.stringify([{ name: 'audit-sink', url: 'http://127.0.0.1:9/events' }]);

describe('deleting tags, manifests and repositories', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    server = await hubServer(PASSWORDS, { env: { WHARF_NOTIFICATIONS_ENDPOINTS: ENDPOINTS } });
    app = server.app;
  });
  afterAll(() => server.close());

  const endpointEvents = async () =>
    (await server.ctx.db.selectFrom('deliveries').select('payload').where('endpoint', '=', 'audit-sink').execute())
      .map(
        (d) => (JSON.parse(d.payload) as { events: { action: string; target: Record<string, unknown> }[] }).events[0],
      )
      .filter((e) => e?.action === 'delete');

  it('DELETE /v2/<name>/manifests/<tag> untags only', async () => {
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/app');
    const image = await pushImage(pusher, 'alice/app', 'a');
    const again = await pusher.inject({
      method: 'PUT',
      url: '/v2/alice/app/manifests/b',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: image.body,
    });
    expect(again.statusCode).toBe(201);
    expect((await pusher.inject({ method: 'DELETE', url: '/v2/alice/app/manifests/a' })).statusCode).toBe(202);
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/alice/app/manifests/a' })).statusCode).toBe(404);
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/alice/app/manifests/b' })).statusCode).toBe(200);
    expect((await pusher.inject({ method: 'HEAD', url: `/v2/alice/app/manifests/${image.digest}` })).statusCode).toBe(
      200,
    );
    expect(await endpointEvents()).toContainEqual(
      expect.objectContaining({ target: { repository: 'alice/app', digest: image.digest, tag: 'a' } }),
    );
  });

  it('the hub API deletes a tag, then a manifest by digest, with audit entries', async () => {
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/web');
    const one = await pushImage(pusher, 'alice/web', 'one');
    const two = await pushImage(pusher, 'alice/web', 'two');
    expect((await apiCall(app, 'DELETE', '/api/repositories/alice/web/tags/one', alice)).status).toBe(204);
    expect((await apiCall(app, 'DELETE', '/api/repositories/alice/web/tags/one', alice)).status).toBe(404);
    // Untagged, the manifest is still there by digest.
    expect((await pusher.inject({ method: 'HEAD', url: `/v2/alice/web/manifests/${one.digest}` })).statusCode).toBe(
      200,
    );
    expect((await apiCall(app, 'DELETE', `/api/repositories/alice/web/manifests/${two.digest}`, alice)).status).toBe(
      204,
    );
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/alice/web/manifests/two' })).statusCode).toBe(404);
    expect((await pusher.inject({ method: 'HEAD', url: `/v2/alice/web/manifests/${two.digest}` })).statusCode).toBe(
      404,
    );
    expect((await apiCall(app, 'DELETE', '/api/repositories/alice/web/manifests/two', alice)).status).toBe(400);
    expect(
      (await apiCall(app, 'DELETE', '/api/repositories/alice/web/tags/one', basicAuth('bob', PASSWORDS.bob))).status,
    ).toBe(404);
    const audit = await server.ctx.db
      .selectFrom('audit_log')
      .select(['action', 'target'])
      .where('action', 'in', ['tag.delete', 'manifest.delete'])
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { action: 'tag.delete', target: 'alice/web:one' },
      { action: 'manifest.delete', target: `alice/web@${two.digest}` },
    ]);
  });

  it('deleting a repository removes all its rows, audits it and tells the notification endpoints', async () => {
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/gone');
    await pushImage(pusher, 'alice/gone', 'v1', { layers: ['gone layer one'] });
    await pushImage(pusher, 'alice/gone', 'v2', { layers: ['gone layer two'] });
    expect((await apiCall(app, 'PUT', '/api/repositories/alice/gone/retention', alice, { keep_last: 1 })).status).toBe(
      200,
    );
    const id = (
      await server.ctx.db
        .selectFrom('repositories')
        .select('id')
        .where('name', '=', 'alice/gone')
        .executeTakeFirstOrThrow()
    ).id;

    expect((await apiCall(app, 'DELETE', '/api/repositories/alice/gone', alice)).status).toBe(204);
    for (const table of [
      'manifests',
      'tags',
      'repository_blobs',
      'manifest_references',
      'retention_policies',
    ] as const) {
      const rows = await server.ctx.db.selectFrom(table).selectAll().where('repository_id', '=', id).execute();
      expect(rows, table).toEqual([]);
    }
    expect((await apiCall(app, 'GET', '/api/repositories/alice/gone', alice)).status).toBe(404);
    expect((await pusher.inject({ method: 'GET', url: '/v2/alice/gone/tags/list' })).statusCode).toBe(404);
    const audit = await server.ctx.db
      .selectFrom('audit_log')
      .select('target')
      .where('action', '=', 'repository.delete')
      .execute();
    expect(audit).toEqual([{ target: 'alice/gone' }]);
    expect(await endpointEvents()).toContainEqual(
      expect.objectContaining({ action: 'delete', target: { repository: 'alice/gone' } }),
    );
  });
});
