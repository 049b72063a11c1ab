// docker's `--format`: `table`, `json`, or a Go template (a small subset of text/template:
// `{{.Field.Sub}}`, `{{json .}}`, `{{if …}}{{else}}{{end}}`, `{{range …}}{{end}}` and docker's
// template functions json, join, split, upper, lower, title, len, index, println, pad, truncate).

/** What templates see: JSON-like values (rows are objects of strings). */
export type TemplateValue = string | number | boolean | null | undefined | TemplateValue[] | TemplateObject;
export interface TemplateObject {
  [key: string]: TemplateValue;
}

/** A template error, worded like Go's (the CLI prints `template parsing error: …`). */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

type Arg =
  | { kind: 'field'; path: string[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'func'; name: string }
  | { kind: 'pipe'; pipe: Pipeline };
type Pipeline = Arg[][];
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { kind: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

const FUNCTIONS = new Set([
  'json',
  'join',
  'split',
  'upper',
  'lower',
  'title',
  'len',
  'index',
  'println',
  'print',
  'pad',
  'truncate',
  'not',
  'eq',
  'ne',
  'and',
  'or',
]);

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src.charAt(j) !== c) j += c === '"' && src.charAt(j) === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError('unterminated quoted string');
      tokens.push(src.slice(i, j + 1));
      i = j + 1;
    } else if (c === '|' || c === '(' || c === ')') {
      tokens.push(c);
      i++;
    } else {
      let j = i;
      while (j < src.length && !' \t\n|()"`'.includes(src.charAt(j))) j++;
      tokens.push(src.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function parsePipeline(tokens: string[], pos = { i: 0 }, nested = false): Pipeline {
  const commands: Arg[][] = [[]];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i++] as string;
    const current = commands[commands.length - 1] as Arg[];
    if (t === ')') {
      if (!nested) throw new TemplateError('unexpected ")"');
      return commands;
    }
    if (t === '|') {
      if (current.length === 0) throw new TemplateError('missing command before "|"');
      commands.push([]);
    } else if (t === '(') current.push({ kind: 'pipe', pipe: parsePipeline(tokens, pos, true) });
    else if (t.startsWith('"')) current.push({ kind: 'string', value: JSON.parse(t) as string });
    else if (t.startsWith('`')) current.push({ kind: 'string', value: t.slice(1, -1) });
    else if (t === 'true' || t === 'false') current.push({ kind: 'bool', value: t === 'true' });
    else if (/^-?\d+(\.\d+)?$/.test(t)) current.push({ kind: 'number', value: Number(t) });
    else if (t === '.') current.push({ kind: 'field', path: [] });
    else if (t.startsWith('.')) current.push({ kind: 'field', path: t.slice(1).split('.') });
    else if (FUNCTIONS.has(t)) current.push({ kind: 'func', name: t });
    else throw new TemplateError(`function "${t}" not defined`);
  }
  if (nested) throw new TemplateError('unclosed left paren');
  if ((commands[commands.length - 1] as Arg[]).length === 0) throw new TemplateError('missing value for command');
  return commands;
}

/** Parses a Go template (the subset above). */
export function parseTemplate(src: string): Node[] {
  const root: Node[] = [];
  const stack: { nodes: Node[]; block?: Extract<Node, { kind: 'if' | 'range' }>; inElse: boolean }[] = [
    { nodes: root, inElse: false },
  ];
  let i = 0;
  let trimNextText = false;
  const top = () => stack[stack.length - 1] as (typeof stack)[number];
  const emit = (node: Node) => {
    const frame = top();
    if (!frame.block) frame.nodes.push(node);
    else if (frame.block.kind === 'if') (frame.inElse ? frame.block.otherwise : frame.block.body).push(node);
    else (frame.inElse ? frame.block.otherwise : frame.block.body).push(node);
  };
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open === -1 ? src.length : open);
    if (trimNextText) text = text.replace(/^\s+/, '');
    if (open === -1) {
      if (text !== '') emit({ kind: 'text', text });
      break;
    }
    const close = src.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateError('unclosed action');
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('- ')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    trimNextText = inner.endsWith(' -');
    if (trimNextText) inner = inner.slice(0, -1);
    if (text !== '') emit({ kind: 'text', text });
    i = close + 2;
    const tokens = tokenize(inner);
    const [first] = tokens;
    if (first === undefined) throw new TemplateError('missing value for command');
    if (first === 'if' || first === 'range') {
      const block: Extract<Node, { kind: 'if' | 'range' }> =
        first === 'if'
          ? { kind: 'if', pipe: parsePipeline(tokens.slice(1)), body: [], otherwise: [] }
          : { kind: 'range', pipe: parsePipeline(tokens.slice(1)), body: [], otherwise: [] };
      emit(block);
      stack.push({ nodes: [], block, inElse: false });
    } else if (first === 'else') {
      if (stack.length === 1 || tokens.length > 1) throw new TemplateError('unexpected {{else}}');
      top().inElse = true;
    } else if (first === 'end') {
      if (stack.length === 1) throw new TemplateError('unexpected {{end}}');
      stack.pop();
    } else emit({ kind: 'action', pipe: parsePipeline(tokens) });
  }
  if (stack.length > 1) throw new TemplateError('unexpected EOF');
  return root;
}

function truthy(v: TemplateValue): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Go's json.Marshal escaping of <, > and & (docker's output has `\u003cnone\u003e`). */
export function goJson(v: unknown): string {
  return (JSON.stringify(v ?? null) as string).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Go's `%v` of a value. */
export function goPrint(v: TemplateValue): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

function lookup(dot: TemplateValue, path: string[]): TemplateValue {
  let v = dot;
  for (const key of path) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new TemplateError(`can't evaluate field ${key}`);
    v = v[key];
  }
  return v;
}

function call(name: string, args: TemplateValue[]): TemplateValue {
  const str = (i: number) => (typeof args[i] === 'string' ? (args[i] as string) : goPrint(args[i]));
  switch (name) {
    case 'json':
      return goJson(args[0]);
    case 'join':
      return Array.isArray(args[0]) ? args[0].map(goPrint).join(str(1)) : str(0);
    case 'split':
      return str(0).split(str(1));
    case 'upper':
      return str(0).toUpperCase();
    case 'lower':
      return str(0).toLowerCase();
    case 'title':
      return str(0).replace(/(^|\s)(\S)/g, (_m, s: string, c: string) => s + c.toUpperCase());
    case 'len': {
      const v = args[0];
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v && typeof v === 'object') return Object.keys(v).length;
      throw new TemplateError(`len of ${goPrint(v)}`);
    }
    case 'index': {
      let v = args[0];
      for (const k of args.slice(1)) {
        if (Array.isArray(v) && typeof k === 'number') {
          if (k < 0 || k >= v.length) throw new TemplateError(`error calling index: index out of range: ${k}`);
          v = v[k];
        } else if (v && typeof v === 'object' && !Array.isArray(v)) v = v[String(k)];
        else throw new TemplateError('error calling index: cannot index');
      }
      return v;
    }
    case 'println':
      return `${args.map(goPrint).join(' ')}\n`;
    case 'print':
      return args.map(goPrint).join('');
    case 'pad':
      return `${' '.repeat(Number(args[1]))}${str(0)}${' '.repeat(Number(args[2]))}`;
    case 'truncate': {
      const s = [...str(0)];
      return s.length > Number(args[1]) ? s.slice(0, Number(args[1])).join('') : str(0);
    }
    case 'not':
      return !truthy(args[0]);
    case 'eq':
      return args.slice(1).some((a) => a === args[0]);
    case 'ne':
      return args[0] !== args[1];
    case 'and':
      return args.find((a) => !truthy(a)) ?? args[args.length - 1];
    case 'or':
      return args.find((a) => truthy(a)) ?? args[args.length - 1];
    default:
      throw new TemplateError(`function "${name}" not defined`);
  }
}

function evalPipe(pipe: Pipeline, dot: TemplateValue): TemplateValue {
  let previous: TemplateValue;
  let first = true;
  for (const command of pipe) {
    const value = (a: Arg): TemplateValue => {
      switch (a.kind) {
        case 'field':
          return lookup(dot, a.path);
        case 'pipe':
          return evalPipe(a.pipe, dot);
        case 'func':
          return call(a.name, []);
        default:
          return a.value;
      }
    };
    const [head, ...rest] = command;
    if (!head) throw new TemplateError('empty command');
    const args = rest.map(value);
    if (!first) args.push(previous);
    if (head.kind === 'func') previous = call(head.name, args);
    else if (args.length > 0) throw new TemplateError(`can't give argument to non-function`);
    else previous = value(head);
    first = false;
  }
  return previous;
}

function execute(nodes: Node[], dot: TemplateValue, out: string[]): void {
  for (const node of nodes) {
    if (node.kind === 'text') out.push(node.text);
    else if (node.kind === 'action') out.push(goPrint(evalPipe(node.pipe, dot)));
    else if (node.kind === 'if') execute(truthy(evalPipe(node.pipe, dot)) ? node.body : node.otherwise, dot, out);
    else {
      const v = evalPipe(node.pipe, dot);
      const items = Array.isArray(v)
        ? v
        : v && typeof v === 'object'
          ? Object.keys(v)
              .sort()
              .map((k) => v[k])
          : [];
      if (items.length === 0) execute(node.otherwise, dot, out);
      for (const item of items) execute(node.body, item, out);
    }
  }
}

/** Renders a parsed template against one value. */
export function renderTemplate(nodes: Node[], dot: TemplateValue): string {
  const out: string[] = [];
  execute(nodes, dot, out);
  return out.join('');
}

/**
 * Go's tabwriter as docker configures it (minwidth 10, padding 3, no flags): each tab-terminated
 * cell is padded to its column's width (longest cell + 3, at least 10); the text after a line's
 * last tab is not aligned. Widths count characters (runes), as Go does.
 */
export function tabwrite(text: string): string {
  const lines = text.split('\n');
  const cells = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const row of cells) {
    row.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 10, [...cell].length + 3);
    });
  }
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i < row.length - 1 ? cell + ' '.repeat((widths[i] ?? 10) - [...cell].length) : cell))
        .join(''),
    )
    .join('\n');
}

/** A `--format` value as docker reads it. */
export interface OutputFormat {
  table: boolean;
  nodes: Node[];
}

/**
 * docker's formatter.Context: `table` (the default table), `json` (`{{json .}}` per row),
 * `table TEMPLATE`, or a bare TEMPLATE; `\t` and `\n` written literally become tab and newline.
 */
export function parseOutputFormat(format: string | undefined, defaultTable: string): OutputFormat {
  let src = format === undefined || format === '' || format === 'table' ? defaultTable : format;
  if (src === 'json') src = '{{json .}}';
  let table = false;
  if (src.startsWith('table')) {
    table = true;
    src = src.slice('table'.length);
  }
  src = src
    .replace(/^ +| +$/g, '')
    .replace(/\\t/g, '\t')
    .replace(/\\n/g, '\n');
  try {
    return { table, nodes: parseTemplate(src) };
  } catch (err) {
    throw new TemplateError(`template parsing error: template: :1: ${(err as Error).message}`);
  }
}

/**
 * Renders rows: one template execution per row, each ending in a newline; a table gets a header
 * line (the template run on `headers`, docker's column names) and is aligned with tabwrite.
 */
export function formatRows(format: OutputFormat, rows: TemplateValue[], headers: TemplateObject): string {
  const run = (dot: TemplateValue) => {
    try {
      return renderTemplate(format.nodes, dot);
    } catch (err) {
      throw new TemplateError(`template: :1: executing "" ${(err as Error).message}`);
    }
  };
  const body = rows.map((r) => `${run(r)}\n`).join('');
  if (!format.table) return body;
  const header = `${run(headers)}\n`;
  return tabwrite(header + body);
}
