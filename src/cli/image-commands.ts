// The docker-compatible commands on the local store's images: images, tag, rmi, history, inspect,
// image prune and system df.
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { inspectContainer } from '../engine/containers/inspect.js';
import { reconcile } from '../engine/containers/lifecycle.js';
import { getContainer } from '../engine/containers/records.js';
import { type DeleteRecord, deleteImage } from '../engine/delete.js';
import { parseFilterFlags } from '../engine/filters.js';
import { imageHistory } from '../engine/history.js';
import { createdTime, type ImageSummary, NoSuchImageError, queryImages, tagImage } from '../engine/images.js';
import { dockerJson, type ImageInspect, inspectImage, type JsonObject } from '../engine/inspect.js';
import { imageLabels, pruneImages } from '../engine/prune.js';
import { withLocalStore } from '../engine/store.js';
import { goTimeString, humanDuration, humanSize, rfc3339, shortId } from '../engine/units.js';
import { familiarOfFullName, parseReference } from '../oci/reference.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { formatRows, parseOutputFormat, type TemplateObject, type TemplateValue } from './format.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `N units ago` as docker prints ages. */
function since(ms: number, now = Date.now()): string {
  return `${humanDuration(now - ms)} ago`;
}

// ---------------------------------------------------------------- images

interface ImagesOptions extends RootOptions {
  all?: boolean;
  quiet?: boolean;
  digests?: boolean;
  trunc?: boolean;
  format?: string;
  filter?: string[];
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

const IMAGE_HEADERS: TemplateObject = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'VIRTUAL SIZE',
};

/** docker's images format: the classic table (≤ v28), `--digests` adds a DIGEST column. */
function imagesFormat(opts: ImagesOptions): string {
  if (opts.quiet) return '{{.ID}}';
  const created = '{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}';
  if (opts.format === undefined || opts.format === '' || opts.format === 'table') {
    return opts.digests
      ? `table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t${created}\t{{.Size}}`
      : `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t${created}\t{{.Size}}`;
  }
  if (opts.format.startsWith('table') && opts.digests && !opts.format.includes('{{.Digest}}')) {
    return `${opts.format}\\t{{.Digest}}`;
  }
  return opts.format;
}

/** `wharf images` / `wharf image ls`. */
function imagesAction(repository: string | undefined, opts: ImagesOptions): Promise<void> {
  return run(async () => {
    const format = parseOutputFormat(imagesFormat(opts), '');
    const filters = parseFilterFlags(opts.filter ?? []);
    // The argument is one more reference= filter.
    if (repository !== undefined) filters.set('reference', [...(filters.get('reference') ?? []), repository]);
    const images = await withLocalStore(opts.root, (store) =>
      queryImages(store.db, {
        all: opts.all === true,
        filters,
        labelsOf: (id) => imageLabels(store, id),
      }),
    );
    const now = Date.now();
    const rows: TemplateObject[] = [];
    for (const image of images) {
      const created = createdTime(image);
      for (const row of rowsOf(image, opts.digests === true)) {
        rows.push({
          Containers: 'N/A',
          CreatedAt: image.created === '' ? '' : goTimeString(created),
          CreatedSince: image.created === '' ? '' : since(created, now),
          Digest: row.digest,
          ID: opts.trunc === false ? image.id : shortId(image.id),
          Repository: row.repo,
          SharedSize: 'N/A',
          Size: humanSize(image.size),
          Tag: row.tag,
          UniqueSize: 'N/A',
          VirtualSize: humanSize(image.size, 4),
        });
      }
    }
    process.stdout.write(formatRows(format, rows, IMAGE_HEADERS));
  }, true);
}

function imagesOptions(command: Command): Command {
  return withRoot(
    command
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-a, --all', 'show all images (default hides intermediate images)')
      .option('-q, --quiet', 'only show image IDs')
      .option('--digests', 'show digests')
      .option('--no-trunc', "don't truncate output")
      .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template")
      .option('-f, --filter <filter>', 'filter output based on conditions provided (repeatable)', collect),
  );
}

export function imagesCommand(): Command {
  return imagesOptions(new Command('images').description('list images')).action(
    (repository: string | undefined, opts: ImagesOptions) => imagesAction(repository, opts),
  );
}

// ---------------------------------------------------------------- tag

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

// ---------------------------------------------------------------- rmi

interface RmiOptions extends RootOptions {
  force?: boolean;
  prune?: boolean;
}

const recordLine = (r: DeleteRecord, lower = false) =>
  'untagged' in r
    ? `${lower ? 'untagged' : 'Untagged'}: ${r.untagged}\n`
    : `${lower ? 'deleted' : 'Deleted'}: ${r.deleted}\n`;

/**
 * docker rmi: each name in turn, records printed as they come; errors collected and printed at
 * the end. Exit 1 on any error, except that with -f "No such image" errors alone exit 0.
 */
async function rmiAction(names: string[], opts: RmiOptions): Promise<void> {
  const errors: string[] = [];
  let fatal = false;
  await withLocalStore(opts.root, async (store) => {
    for (const name of names) {
      try {
        const records = await deleteImage(store, name, { force: opts.force === true, prune: opts.prune !== false });
        process.stdout.write(records.map((r) => recordLine(r)).join(''));
      } catch (err) {
        if (!(err instanceof NoSuchImageError)) fatal = true;
        errors.push(`Error response from daemon: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
  if (errors.length > 0) {
    process.stderr.write(`${errors.join('\n')}\n`);
    if (!opts.force || fatal) process.exitCode = 1;
  }
}

function rmiOptions(command: Command): Command {
  return withRoot(
    command
      .argument('<images...>', 'IMAGE [IMAGE...]')
      .option('-f, --force', 'force removal of the image')
      .option('--no-prune', 'do not delete untagged parents'),
  ).action((names: string[], opts: RmiOptions) => rmiAction(names, opts));
}

// ---------------------------------------------------------------- history

interface HistoryOptions extends RootOptions {
  human?: boolean;
  quiet?: boolean;
  trunc?: boolean;
  format?: string;
}

/** formatter.Ellipsis: at most `width` display columns, the last one `…` when cut. */
function ellipsis(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  return `${chars.slice(0, width - 1).join('')}…`;
}

async function historyAction(name: string, opts: HistoryOptions): Promise<void> {
  await run(async () => {
    const human = opts.human !== false;
    const trunc = opts.trunc !== false;
    const format = parseOutputFormat(
      opts.quiet ? '{{.ID}}' : opts.format,
      'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
    );
    const items = await withLocalStore(opts.root, (store) => imageHistory(store, name));
    const now = Date.now();
    // Docker shows N/A for a time at or before 2000-01-01 (a zero or made-up date).
    const old = (s: number) => s <= 946684800;
    const rows: TemplateValue[] = items.map((h) => {
      const at = h.created * 1000;
      const createdBy = h.createdBy.replace(/\t/g, ' ');
      return {
        Comment: h.comment,
        CreatedAt: old(h.created) ? 'N/A' : rfc3339(at),
        CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
        CreatedSince: old(h.created) ? 'N/A' : human ? since(at, now) : rfc3339(at),
        ID: trunc ? shortId(h.id) || h.id : h.id,
        Size: human ? humanSize(h.size) : String(h.size),
      };
    });
    const headers: TemplateObject = {
      ID: 'IMAGE',
      CreatedSince: human ? 'CREATED' : 'CREATED AT',
      CreatedAt: 'CREATED AT',
      CreatedBy: 'CREATED BY',
      Size: 'SIZE',
      Comment: 'COMMENT',
    };
    process.stdout.write(formatRows(format, rows, headers));
  }, true);
}

/** `-H=false` as docker spells it: commander hands short-option values over with the `=`. */
const parseBool = (value: string | undefined) => !/^=?(false|0|f)$/i.test(value ?? 'true');

function historyCommand(): Command {
  return withRoot(
    new Command('history')
      .description('show the history of an image')
      .argument('<image>', 'IMAGE')
      .option('-H, --human [bool]', 'print sizes and dates in human readable format (default true)', parseBool, true)
      .option('-q, --quiet', 'only show image IDs')
      .option('--no-trunc', "don't truncate output")
      .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template"),
  ).action((name: string, opts: HistoryOptions) => historyAction(name, opts));
}

// ---------------------------------------------------------------- inspect

interface InspectOptions extends RootOptions {
  format?: string;
}

/**
 * docker inspect / image inspect: the JSON array (or the template once per image); the images
 * not found are reported after the output, and the exit status is 1.
 */
async function inspectAction(names: string[], opts: InspectOptions, generic: boolean): Promise<void> {
  await run(async () => {
    const format = opts.format ? parseOutputFormat(opts.format, '') : undefined;
    const found: ImageInspect[] = [];
    const errors: string[] = [];
    await withLocalStore(opts.root, async (store) => {
      for (const name of names) {
        // `wharf inspect` is docker's generic inspect: a container by that name first, then an image.
        if (generic) {
          const container = await getContainer(store.db, name).catch(() => undefined);
          if (container) {
            const json = inspectContainer(store, await reconcile(store, container)) as JsonObject;
            found.push({ json, template: json });
            continue;
          }
        }
        try {
          found.push(await inspectImage(store, name));
        } catch (err) {
          if (!(err instanceof NoSuchImageError)) throw err;
          errors.push(generic ? `Error: No such object: ${name}` : `Error response from daemon: ${err.message}`);
        }
      }
    });
    if (format)
      process.stdout.write(
        formatRows(
          format,
          found.map((f) => f.template as TemplateValue),
          {},
        ),
      );
    else process.stdout.write(`${dockerJson(found.map((f) => f.json))}\n`);
    if (errors.length > 0) {
      process.stderr.write(`${errors.join('\n')}\n`);
      process.exitCode = 1;
    }
  }, true);
}

function inspectCommand(name: string, generic: boolean): Command {
  return withRoot(
    new Command(name)
      .description('display detailed information on one or more images')
      .argument('<images...>', 'IMAGE [IMAGE...]')
      .option('-f, --format <format>', 'format the output using the given Go template'),
  ).action((names: string[], opts: InspectOptions) => inspectAction(names, opts, generic));
}

// ---------------------------------------------------------------- image prune

interface PruneOptions extends RootOptions {
  all?: boolean;
  force?: boolean;
  filter?: string[];
}

/** Asks docker's `[y/N]` question on stdout; true only for y or yes. */
function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(/^y(es)?$/i.test(line.trim()));
    });
    rl.once('close', () => {
      if (!answered) resolve(false);
    });
  });
}

async function pruneAction(opts: PruneOptions): Promise<void> {
  await run(async () => {
    const filters = parseFilterFlags(opts.filter ?? []);
    if (!opts.force) {
      const warning = opts.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      // A "no" ends the command quietly with status 0, as docker's cancelled prune does.
      if (!(await confirm(`${warning}\nAre you sure you want to continue? [y/N] `))) return;
    }
    const result = await withLocalStore(opts.root, (store) => pruneImages(store, opts.all === true, filters));
    let out = '';
    if (result.deleted.length > 0)
      out += `Deleted Images:\n${result.deleted.map((r) => recordLine(r, true)).join('')}\n`;
    out += `Total reclaimed space: ${humanSize(result.spaceReclaimed, 4)}\n`;
    process.stdout.write(out);
  }, true);
}

function pruneCommand(): Command {
  return withRoot(
    new Command('prune')
      .description('remove unused images')
      .option('-a, --all', 'remove all unused images, not just dangling ones')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--filter <filter>', "provide filter values (e.g. 'until=<timestamp>')", collect),
  ).action((opts: PruneOptions) => pruneAction(opts));
}

// ---------------------------------------------------------------- system df

interface DfOptions extends RootOptions {
  verbose?: boolean;
  format?: string;
}

/** `Size (NN%)` as docker prints a reclaimable amount. */
function reclaimableText(reclaimable: number, total: number): string {
  return total > 0
    ? `${humanSize(reclaimable, 4)} (${Math.trunc((reclaimable * 100) / total)}%)`
    : humanSize(reclaimable, 4);
}

/** docker system df [-v]: images, containers and volumes of the store; no build cache (Wharf does not build). */
async function dfAction(opts: DfOptions): Promise<void> {
  await run(async () => {
    // Loaded here: the container modules are not needed by the other image commands.
    const usageModule = await import('../engine/usage.js');
    const { isActive } = await import('../engine/containers/records.js');
    const { commandText, statusText } = await import('./container-text.js');
    const usage = await withLocalStore(opts.root, (store) => usageModule.diskUsage(store));
    const total = usage.layersSize;
    const containersSize = usage.containers.reduce((s, c) => s + c.sizeRw, 0);
    const volumesSize = usage.volumes.reduce((s, v) => s + v.size, 0);
    if (!opts.verbose) {
      const format = parseOutputFormat(
        opts.format,
        'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
      );
      const rows: TemplateObject[] = [
        {
          Type: 'Images',
          TotalCount: String(usage.images.length),
          Active: String(usage.images.filter((i) => i.containers > 0).length),
          Size: humanSize(total, 4),
          Reclaimable: reclaimableText(usageModule.reclaimableImages(usage), total),
        },
        {
          Type: 'Containers',
          TotalCount: String(usage.containers.length),
          Active: String(usage.containers.filter((c) => isActive(c.container)).length),
          Size: humanSize(containersSize, 4),
          Reclaimable: reclaimableText(usageModule.reclaimableContainers(usage), containersSize),
        },
        {
          Type: 'Local Volumes',
          TotalCount: String(usage.volumes.length),
          Active: String(usage.volumes.filter((v) => v.links > 0).length),
          Size: humanSize(volumesSize, 4),
          Reclaimable: reclaimableText(usageModule.reclaimableVolumes(usage), volumesSize),
        },
        { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
      ];
      const headers = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
      process.stdout.write(formatRows(format, rows, headers));
      return;
    }
    const now = Date.now();
    const images = parseOutputFormat(
      undefined,
      'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
    );
    const rows: TemplateObject[] = usage.images.map(({ image, size, sharedSize, containers }) => {
      // One row per image, with its first tag.
      const first = image.repoTags[0];
      return {
        Repository: first ? familiarOfFullName(first.name) : '<none>',
        Tag: first ? first.tag : '<none>',
        ID: shortId(image.id),
        CreatedSince: image.created === '' ? 'N/A' : since(createdTime(image), now),
        Size: humanSize(size),
        SharedSize: humanSize(sharedSize, 4),
        UniqueSize: humanSize(size - sharedSize, 4),
        Containers: String(containers),
      };
    });
    const headers = {
      Repository: 'REPOSITORY',
      Tag: 'TAG',
      ID: 'IMAGE ID',
      CreatedSince: 'CREATED',
      Size: 'SIZE',
      SharedSize: 'SHARED SIZE',
      UniqueSize: 'UNIQUE SIZE',
      Containers: 'CONTAINERS',
    };
    const containerRows: TemplateObject[] = usage.containers.map(({ container, sizeRw, localVolumes }) => ({
      ID: container.id.slice(0, 12),
      Image: container.imageRef,
      Command: commandText(container, true),
      LocalVolumes: String(localVolumes),
      Size: humanSize(sizeRw),
      RunningFor: `${humanDuration(now - Date.parse(container.created))} ago`,
      Status: statusText(container, now),
      Names: container.name,
    }));
    const volumeRows: TemplateObject[] = usage.volumes.map(({ volume, links, size }) => ({
      Name: volume.name,
      Links: String(links),
      Size: humanSize(size, 4),
    }));
    const table = (h: string[]) =>
      formatRows(
        parseOutputFormat(`table ${h.map((_, i) => `{{.c${i}}}`).join('\t')}`, ''),
        [],
        Object.fromEntries(h.map((x, i) => [`c${i}`, x])),
      );
    process.stdout.write(
      [
        'Images space usage:\n\n',
        formatRows(images, rows, headers),
        '\nContainers space usage:\n\n',
        formatRows(
          parseOutputFormat(
            undefined,
            'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
          ),
          containerRows,
          {
            ID: 'CONTAINER ID',
            Image: 'IMAGE',
            Command: 'COMMAND',
            LocalVolumes: 'LOCAL VOLUMES',
            Size: 'SIZE',
            RunningFor: 'CREATED',
            Status: 'STATUS',
            Names: 'NAMES',
          },
        ),
        '\nLocal Volumes space usage:\n\n',
        formatRows(parseOutputFormat(undefined, 'table {{.Name}}\t{{.Links}}\t{{.Size}}'), volumeRows, {
          Name: 'VOLUME NAME',
          Links: 'LINKS',
          Size: 'SIZE',
        }),
        '\nBuild cache usage: 0B\n\n',
        table(['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED']),
      ].join(''),
    );
  }, true);
}

function systemCommand(): Command {
  const system = new Command('system').description('manage Wharf');
  system.addCommand(
    withRoot(
      new Command('df')
        .description('show disk usage')
        .option('-v, --verbose', 'show detailed information on space usage')
        .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template"),
    ).action((opts: DfOptions) => dfAction(opts)),
  );
  return system;
}

// ---------------------------------------------------------------- modules

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [
    imagesCommand(),
    tagCommand(),
    rmiOptions(new Command('rmi').description('remove one or more images')),
    historyCommand(),
    inspectCommand('inspect', true),
    systemCommand(),
  ];
}

/** The same commands under `wharf image …`. */
export function imageSubcommands(): Command[] {
  return [
    imagesOptions(new Command('ls').alias('list').description('list images')).action(
      (repository: string | undefined, opts: ImagesOptions) => imagesAction(repository, opts),
    ),
    tagCommand(),
    rmiOptions(new Command('rm').alias('remove').description('remove one or more images')),
    historyCommand(),
    inspectCommand('inspect', false),
    pruneCommand(),
  ];
}
