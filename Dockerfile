# Wharf as a container image, the way registries are shipped:
#
#   docker build -t wharf .                      (npm run image)
#   docker run -d --name myregistry -p 5000:5000 --restart=always wharf
#
# The image serves on 0.0.0.0:5000 with auth.mode none (anonymous push and pull, like
# registry:2); set WHARF_AUTH_MODE=token for accounts (docs/deployment-container.md).
#
# BASE is any Debian-like Node image (default: the official Node 20 one). The `runtime`
# stage (the default) builds the app with `npm ci` in the `build` stage; the `prebuilt`
# target instead takes an app built outside as its context (dist/, production node_modules/,
# package.json, src/server/ui/), for machines whose builds have no network.
ARG BASE=node:20-bookworm-slim

# ---------------------------------------------------------------- the runtime both targets share
FROM ${BASE} AS runtime-base
# A user of its own (not root), owning the data directory; useradd on Debian, adduser on Alpine.
RUN (useradd --system --uid 10001 --user-group --home-dir /var/lib/wharf --no-create-home wharf \
      || adduser -S -D -u 10001 -h /var/lib/wharf wharf) \
    && mkdir -p /var/lib/wharf /app \
    && chown wharf /var/lib/wharf
ENV NODE_ENV=production \
    WHARF_HTTP_ADDR=0.0.0.0:5000 \
    WHARF_STORAGE_ROOT=/var/lib/wharf \
    WHARF_AUTH_MODE=none \
    WHARF_AUTH_ALLOW_NONE_ON_NETWORK=true
WORKDIR /app
VOLUME /var/lib/wharf
EXPOSE 5000
# No curl in minimal images: Node's own fetch, on the port WHARF_HTTP_ADDR names.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const a=process.env.WHARF_HTTP_ADDR||'0.0.0.0:5000';fetch('http://127.0.0.1:'+a.slice(a.lastIndexOf(':')+1)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# `docker stop` sends SIGTERM: wharf serve stops accepting, lets requests in flight finish
# (a few seconds at most, within docker's 10 s), closes the database and exits 0.
STOPSIGNAL SIGTERM
USER wharf
CMD ["node", "/app/dist/bundle/cli/main.js", "serve"]

# ---------------------------------------------------------------- prebuilt app from the context
# The context is the app itself (package.json, dist/, production node_modules/,
# src/server/ui/{views,static}): docs/deployment-container.md. The classic builder builds every
# stage before the target, so this one must not fail on the repository's own context (where it
# copies the sources, unused): hence one COPY of the whole context.
FROM runtime-base AS prebuilt
COPY . /app/

# ---------------------------------------------------------------- build with npm
FROM ${BASE} AS build
WORKDIR /src
COPY . .
# `npm ci` builds (prepare); then only the production dependencies stay.
RUN npm ci && npm prune --omit=dev

# ---------------------------------------------------------------- the default target
FROM runtime-base AS runtime
COPY --from=build /src/package.json /app/
COPY --from=build /src/node_modules /app/node_modules
COPY --from=build /src/src/server/ui/views /app/src/server/ui/views
COPY --from=build /src/src/server/ui/static /app/src/server/ui/static
COPY --from=build /src/dist /app/dist
