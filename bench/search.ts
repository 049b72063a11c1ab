// Search that does not slow down with its matches (issue 15): the server time of the first page
// of /v1/search (docker search), /api/search and the web UI's /search, for a term matching
// 10,000 of 100,000 repositories and for a term matching one; and the explore page (/) with
// 10,000 repositories. Rows are seeded directly in SQLite; requests go through fastify.inject,
// so the figures are the server's time (routing, access checks, query, rendering), no network:
// its CPU time (what the targets are about) and its wall time (which a busy machine inflates).
//   npx tsx bench/search.ts [--repos N] [--matches N] [--reps N] [--out FILE]
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import type { MetadataDb } from '../src/metadata/db.js';
import { buildServer, type WharfServer } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { removeTmpDir, tmpDir } from '../test/support/tools.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * `total` public repositories in 50 namespaces; `matches` of them are `teamN/web-svc-I` with
 * "web" in their description, the others `teamN/app-I` about something else; one more is
 * `solo/zanzibar` (the one-match term). Stars, pulls and push times vary so every ordering works.
 */
async function seed(db: MetadataDb, total: number, matches: number): Promise<void> {
  const stamp = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
  const every = Math.max(1, Math.floor(total / Math.max(1, matches)));
  let made = 0;
  await db.transaction().execute(async (trx) => {
    const rows = [];
    for (let i = 0; i < total; i++) {
      const matching = i % every === 0 && made < matches;
      if (matching) made++;
      rows.push({
        name: matching ? `team${i % 50}/web-svc-${i}` : `team${i % 50}/app-${i}`,
        created_at: stamp(i),
        namespace_id: null,
        description: matching ? `The web service number ${i}` : `Batch job number ${i} for reports`,
        full_description: '',
        star_count: (i * 7919) % 500,
        pull_count: (i * 104729) % 2_000_000,
        is_official: 0,
        last_pushed_at: stamp(total - i),
        visibility: 'public' as const,
      });
      if (rows.length === 500) {
        await trx.insertInto('repositories').values(rows).execute();
        rows.length = 0;
      }
    }
    rows.push({
      name: 'solo/zanzibar',
      created_at: stamp(0),
      namespace_id: null,
      description: 'The only one',
      full_description: '',
      star_count: 1,
      pull_count: 1,
      is_official: 0,
      last_pushed_at: stamp(0),
      visibility: 'public' as const,
    });
    await trx.insertInto('repositories').values(rows).execute();
  });
  await sql`analyze`.execute(db);
}

/**
 * Wall time and CPU time of one request. The CPU time (user + system of this process; SQLite
 * runs synchronously on this thread) is what the server spent, whatever else runs on the
 * machine; the wall time also counts waiting for a busy CPU.
 */
async function timeOnce(server: WharfServer, url: string): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const res = await server.app.inject({ method: 'GET', url });
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

interface Timing {
  wall: number;
  cpu: number;
}

/** Median times of each url, measured in turns (so that a busy machine weighs on all alike). */
async function serverMs(server: WharfServer, urls: string[], reps: number): Promise<Timing[]> {
  const walls = urls.map(() => [] as number[]);
  const cpus = urls.map(() => [] as number[]);
  for (let i = 0; i < reps + 2; i++) {
    for (const [j, url] of urls.entries()) {
      const t = await timeOnce(server, url);
      if (i >= 2) {
        walls[j]?.push(t.wall);
        cpus[j]?.push(t.cpu);
      }
    }
  }
  return urls.map((_, j) => ({ wall: median(walls[j] ?? []), cpu: median(cpus[j] ?? []) }));
}

const show = (t: Timing) => `${t.cpu.toFixed(2)} ms CPU (${t.wall.toFixed(2)} ms wall)`;
const none: Timing = { wall: 0, cpu: 0 };

async function withServer<T>(fn: (server: WharfServer, db: MetadataDb) => Promise<T>): Promise<T> {
  const dataDir = await tmpDir('wharf-bench-search');
  const server = await buildServer(
    loadConfig({
      env: {
        WHARF_STORAGE_ROOT: dataDir,
        WHARF_STORAGE_DRIVER: 'filesystem',
        WHARF_AUTH_MODE: 'token',
        WHARF_LOG_LEVEL: 'silent',
        WHARF_ADMIN_PASSWORD: 'bench-Admin-1',
      },
    }),
  );
  try {
    await server.app.ready();
    return await fn(server, server.ctx.db);
  } finally {
    await server.close();
    await removeTmpDir(dataDir);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repos: { type: 'string', default: '100000' },
      matches: { type: 'string', default: '10000' },
      explore: { type: 'string', default: '10000' },
      reps: { type: 'string', default: '15' },
      out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'search.json') },
    },
  });
  const repos = Number(values.repos);
  const matches = Number(values.matches);
  const exploreRepos = Number(values.explore);
  const reps = Number(values.reps);
  const surfaces = {
    v1: (q: string) => `/v1/search?q=${q}&n=25`,
    api: (q: string) => `/api/search?query=${q}&page_size=25`,
    ui: (q: string) => `/search?q=${q}`,
  };
  const results: Record<string, number> = {};

  await withServer(async (server, db) => {
    log(`seeding ${repos} repositories, ${matches} matching "web"…`);
    await seed(db, repos, matches);
    for (const [surface, path] of Object.entries(surfaces)) {
      const [many = none, one = none] = await serverMs(server, [path('web'), path('zanzibar')], reps);
      results[`${surface}_many_cpu_ms`] = many.cpu;
      results[`${surface}_one_cpu_ms`] = one.cpu;
      results[`${surface}_many_wall_ms`] = many.wall;
      results[`${surface}_one_wall_ms`] = one.wall;
      log(
        `${surface.padEnd(4)} first page: ${matches} matches ${show(many)}, one match ${show(one)} (×${(many.cpu / one.cpu).toFixed(2)} CPU)`,
      );
    }
    for (const ordering of ['-star_count', '-pull_count', '-last_updated']) {
      const [t = none] = await serverMs(server, [`/api/search?query=web&page_size=25&ordering=${ordering}`], reps);
      results[`api_many_${ordering.slice(1)}_cpu_ms`] = t.cpu;
      log(`api  ordering=${ordering}: ${show(t)}`);
    }
    const [deep = none] = await serverMs(server, ['/search?q=web&page=200'], reps);
    results.ui_many_page200_cpu_ms = deep.cpu;
    log(`ui   page 200 of "web": ${show(deep)}`);
  });

  await withServer(async (server, db) => {
    log(`seeding ${exploreRepos} repositories for explore…`);
    await seed(db, exploreRepos, Math.floor(exploreRepos / 10));
    const [home = none, sorted = none] = await serverMs(server, ['/', '/search?sort=pulls'], reps);
    results.explore_cpu_ms = home.cpu;
    results.explore_wall_ms = home.wall;
    log(`explore first page (${exploreRepos} repositories): ${show(home)}`);
    results.explore_pulls_cpu_ms = sorted.cpu;
    log(`explore sorted by pulls: ${show(sorted)}`);
  });

  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(
    values.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
        repos,
        matches,
        explore_repos: exploreRepos,
        reps,
        results,
      },
      null,
      2,
    )}\n`,
  );
  log(`written ${values.out}`);
}

await main();
