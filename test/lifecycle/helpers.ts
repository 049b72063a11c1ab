import type { FastifyInstance, InjectOptions } from 'fastify';

/** Basic credentials header for the hub API. */
export const basicAuth = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** A JSON call to the hub API through fastify.inject (always `application/json` on writes). */
export async function apiCall(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  auth: Record<string, string>,
  body?: unknown,
) {
  const res = await app.inject({
    method,
    url,
    headers: { ...auth, ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
    ...(method === 'GET' ? {} : { payload: JSON.stringify(body ?? {}) }),
  });
  return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
}

/**
 * The app as the push helpers (test/support/push.ts) see it, with a registry token of `user` for
 * `repository` on every /v2 request, as `docker push` sends it in auth.mode token.
 */
export async function asPusher(
  app: FastifyInstance,
  user: string,
  password: string,
  repository: string,
  /** Further repositories to pull from (a cross-repository mount's source). */
  pullFrom: string[] = [],
): Promise<FastifyInstance> {
  const scopes = [`repository:${repository}:pull,push,delete`, ...pullFrom.map((r) => `repository:${r}:pull`)];
  const res = await app.inject({
    method: 'GET',
    url: `/token?service=wharf&${scopes.map((s) => `scope=${s}`).join('&')}`,
    headers: basicAuth(user, password),
  });
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
  const token = (res.json() as { token: string }).token;
  const inject = (opts: InjectOptions) =>
    app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: `Bearer ${token}` } });
  return { inject } as unknown as FastifyInstance;
}
