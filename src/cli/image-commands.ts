// The docker-compatible commands on the local store's images: images, tag.
import { Command } from 'commander';
import { type ImageSummary, listImages, tagImage } from '../engine/images.js';
import { parsePlatform } from '../engine/platform.js';
import { pullImage } from '../engine/pull.js';
import { withLocalStore } from '../engine/store.js';
import { humanDuration, humanSize, shortId } from '../engine/units.js';
import { familiarOfFullName, parseReference } from '../oci/reference.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { formatTable } from './table.js';

/** Go's path.Match, enough for reference filters: `*` and `?` do not cross `/`. */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) throw new Error('syntax error in pattern');
      const body = pattern.slice(i + 1, end);
      re += `[${body.startsWith('^') ? `^/${body.slice(1)}` : body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern.charAt(++i)}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's reference= filter: matches familiar `name:tag`, familiar name, and the full forms. */
function referenceMatches(pattern: RegExp, name: string, tag: string): boolean {
  const short = familiarOfFullName(name);
  return [`${short}:${tag}`, short, `${name}:${tag}`, name].some((s) => pattern.test(s));
}

interface ImagesOptions extends RootOptions {
  quiet?: boolean;
  digests?: boolean;
  trunc?: boolean;
}

function rowsOf(image: ImageSummary, digests: boolean): { repo: string; tag: string; digest: string }[] {
  const rows: { repo: string; tag: string; digest: string }[] = [];
  const tagged = new Set(image.repoTags.map((t) => t.name));
  for (const t of image.repoTags) {
    const ds = digests ? image.repoDigests.filter((d) => d.name === t.name) : [];
    if (ds.length === 0) rows.push({ repo: familiarOfFullName(t.name), tag: t.tag, digest: '<none>' });
    for (const d of ds) rows.push({ repo: familiarOfFullName(t.name), tag: t.tag, digest: d.digest });
  }
  const digestOnly = new Map<string, string[]>();
  for (const d of image.repoDigests) {
    if (tagged.has(d.name)) continue;
    digestOnly.set(d.name, [...(digestOnly.get(d.name) ?? []), d.digest]);
  }
  for (const [name, ds] of digestOnly) {
    if (digests) for (const d of ds) rows.push({ repo: familiarOfFullName(name), tag: '<none>', digest: d });
    else rows.push({ repo: familiarOfFullName(name), tag: '<none>', digest: '' });
  }
  if (rows.length === 0) rows.push({ repo: '<none>', tag: '<none>', digest: '<none>' });
  return rows;
}

/** `wharf images` / `wharf image ls`. */
function imagesAction(repository: string | undefined, opts: ImagesOptions): Promise<void> {
  return run(async () => {
    let pattern: RegExp | undefined;
    if (repository !== undefined) {
      // The argument is a reference= filter; a bare name means any tag of it.
      pattern = globToRegExp(repository);
    }
    const images = await withLocalStore(opts.root, (store) => listImages(store.db));
    const now = Date.now();
    const table: string[][] = [];
    for (const image of images) {
      let shown = image;
      if (pattern) {
        const re = pattern;
        const repoTags = image.repoTags.filter((t) => referenceMatches(re, t.name, t.tag));
        if (repoTags.length === 0) continue;
        shown = {
          ...image,
          repoTags,
          repoDigests: image.repoDigests.filter((d) => repoTags.some((t) => t.name === d.name)),
        };
      }
      const id = opts.trunc === false ? image.id : shortId(image.id);
      const created = image.created === '' ? 'N/A' : `${humanDuration(now - Date.parse(image.created))} ago`;
      for (const row of rowsOf(shown, opts.digests === true)) {
        table.push([row.repo, row.tag, ...(opts.digests ? [row.digest] : []), id, created, humanSize(image.size)]);
      }
    }
    if (opts.quiet) {
      process.stdout.write(table.map((r) => `${r[opts.digests ? 3 : 2]}\n`).join(''));
      return;
    }
    const header = ['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
    process.stdout.write(formatTable(header, table));
  }, true);
}

function imagesOptions(command: Command): Command {
  return withRoot(
    command
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-q, --quiet', 'only show image IDs')
      .option('--digests', 'show digests')
      .option('--no-trunc', "don't truncate output"),
  );
}

export function imagesCommand(): Command {
  return imagesOptions(new Command('images').description('list images')).action(
    (repository: string | undefined, opts: ImagesOptions) => imagesAction(repository, opts),
  );
}

/** `wharf tag SOURCE TARGET`. */
export function tagCommand(): Command {
  return withRoot(
    new Command('tag')
      .description('create a tag TARGET that refers to SOURCE')
      .argument('<source>', 'SOURCE_IMAGE[:TAG] or image ID')
      .argument('<target>', 'TARGET_IMAGE[:TAG]'),
  ).action(async (source: string, target: string, opts: RootOptions) => {
    await run(async () => {
      try {
        parseReference(source);
      } catch (err) {
        if (!/^(sha256:)?[a-f0-9]{1,64}$/.test(source)) {
          throw new Error(
            `error parsing reference: "${source}" is not a valid repository/tag: ${(err as Error).message}`,
          );
        }
      }
      await withLocalStore(opts.root, (store) => tagImage(store.db, source, target));
    }, false);
  });
}

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [imagesCommand(), tagCommand()];
}

/** The same commands under `wharf image …` (`image ls|list`, `image tag`). */
export function imageSubcommands(): Command[] {
  return [
    imagesOptions(new Command('ls').alias('list').description('list images')).action(
      (repository: string | undefined, opts: ImagesOptions) => imagesAction(repository, opts),
    ),
    tagCommand(),
  ];
}
