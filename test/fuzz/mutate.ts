/**
 * Seeded recipe mutations for the fuzz test: structural ones on the parsed document (delete, duplicate and
 * rename keys, swap types, hostile values, list edits) and textual ones on the YAML (indentation, anchors and
 * aliases, dropped or doubled lines, truncation). Same seed, same mutants: a failure is reproducible from
 * its seed alone.
 */
import { parse, stringify } from 'yaml';
import { mulberry32 } from '../../src/util/random.js';

type Rng = () => number;
type Path = (string | number)[];

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

/** Values a careless or hostile author writes. */
const HOSTILE: readonly unknown[] = [
  0,
  -1,
  1,
  2,
  3,
  7,
  8,
  16,
  0.5,
  -0.5,
  1e308,
  -1e308,
  2 ** 53 + 1,
  1e-320,
  4294967296,
  'NaN',
  '.nan',
  'Infinity',
  '-.inf',
  '1e999',
  '0x10',
  '',
  ' ',
  'null',
  'true',
  'auto',
  'skip',
  'x'.repeat(5000),
  'Ω≈ç√∫˜µ≤≥÷',
  '😀🎉',
  'a\u0000b',
  '\u202eevil',
  '${{ matrix.bits }}',
  '${{ matrix.nope }}',
  '../../x',
  '../../../../etc',
  '/etc',
  '/tmp/../etc/passwd',
  'C:\\Windows',
  'file:///etc/passwd',
  'https://example.com/model.json',
  're:(',
  're:^(a+)+$',
  '*',
  '**/*',
  '300kB',
  '1.5MB',
  '-3MB',
  '9e99GB',
  true,
  false,
  null,
  [],
  {},
  [null],
  [[[]]],
  { a: { b: { c: {} } } },
];
const KEYS = [
  'version',
  'name',
  'model',
  'path',
  'train',
  'data',
  'eval',
  'passes',
  'quantize',
  'prune',
  'overrides',
  'layers',
  'thresholds',
  'output',
  'extends',
  'matrix',
  'runtime',
  'bits',
  'dtype',
  'limit',
  '__proto__',
  'constructor',
  'nonFinite',
  'gate',
];

function nodes(value: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((v, i) => nodes(v, [...path, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) nodes(v, [...path, k], out);
  return out;
}

function get(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], root);
}

/** A value of the same type: gets past the schema's type checks into the semantic ones more often. */
function sameType(rng: Rng, v: unknown): unknown {
  const of = (t: string) => HOSTILE.filter((h) => typeof h === t && !Array.isArray(h));
  if (typeof v === 'number') return pick(rng, of('number'));
  if (typeof v === 'string') return pick(rng, [...of('string'), `${v}*`, `re:${v}(`, v.toUpperCase(), `${v}_1`]);
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) return rng() < 0.5 ? [...v, ...v] : v.slice(1);
  return v;
}

function swapType(rng: Rng, v: unknown): unknown {
  const as = pick(rng, ['string', 'number', 'list', 'map', 'null', 'bool'] as const);
  switch (as) {
    case 'string':
      return typeof v === 'string' ? `${v}x` : (JSON.stringify(v) ?? 'x');
    case 'number':
      return typeof v === 'number' ? -v * 1000 : Number.parseFloat(String(v)) || pick(rng, [0, -1, 1e9]);
    case 'list':
      return Array.isArray(v) ? [] : [v];
    case 'map':
      return v && typeof v === 'object' && !Array.isArray(v) ? {} : { value: v };
    case 'null':
      return null;
    case 'bool':
      return rng() < 0.5;
  }
}

/** One structural mutation, in place; returns what it did. */
function mutateTree(rng: Rng, root: Record<string, unknown>): string {
  const all = nodes(root).filter((p) => p.length > 0);
  if (all.length === 0) return 'empty';
  const path = pick(rng, all);
  const parent = get(root, path.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const key = path[path.length - 1]!;
  const op = pick(rng, [
    'delete',
    'duplicate',
    'rename',
    'swap',
    'value',
    'same',
    'same',
    'same',
    'list',
    'unknown-key',
  ] as const);
  const at = path.join('.');
  if (Array.isArray(parent)) {
    const i = key as number;
    if (op === 'delete' || op === 'list') parent.splice(i, 1);
    else if (op === 'duplicate') parent.splice(i, 0, structuredClone(parent[i]));
    else if (op === 'swap') parent[i] = swapType(rng, parent[i]);
    else if (op === 'same') parent[i] = sameType(rng, parent[i]);
    else parent[i] = structuredClone(pick(rng, HOSTILE));
    return `${op} ${at}`;
  }
  const obj = parent as Record<string, unknown>;
  switch (op) {
    case 'delete':
      delete obj[key as string];
      break;
    case 'duplicate':
    case 'rename': {
      const name =
        op === 'rename'
          ? pick(rng, [`${String(key)}s`, String(key).slice(1), String(key).toUpperCase(), pick(rng, KEYS)])
          : `${String(key)}_copy`;
      const v = obj[key as string];
      if (op === 'rename') delete obj[key as string];
      obj[name] = structuredClone(v);
      break;
    }
    case 'swap':
      obj[key as string] = swapType(rng, obj[key as string]);
      break;
    case 'same':
      obj[key as string] = sameType(rng, obj[key as string]);
      break;
    case 'unknown-key':
      obj[pick(rng, KEYS)] = structuredClone(pick(rng, HOSTILE));
      break;
    default:
      obj[key as string] = structuredClone(pick(rng, HOSTILE));
  }
  return `${op} ${at}`;
}

/** One textual mutation of the YAML. */
function mutateText(rng: Rng, text: string): [string, string] {
  const lines = text.split('\n');
  const i = Math.floor(rng() * lines.length);
  const op = pick(rng, [
    'indent',
    'dedent',
    'drop-line',
    'dup-line',
    'tab',
    'truncate',
    'anchor',
    'bracket',
    'deep',
    'colon',
    'proto',
  ] as const);
  switch (op) {
    case 'indent':
      lines[i] = ' '.repeat(1 + Math.floor(rng() * 3)) + lines[i];
      break;
    case 'dedent':
      lines[i] = lines[i]!.replace(/^ {1,2}/, '');
      break;
    case 'drop-line':
      lines.splice(i, 1);
      break;
    case 'dup-line':
      lines.splice(i, 0, lines[i]!);
      break;
    case 'tab':
      lines[i] = `\t${lines[i]}`;
      break;
    case 'truncate':
      return [text.slice(0, Math.floor(rng() * text.length)), op];
    case 'anchor': {
      // An anchor on one value, aliases to it elsewhere (sometimes a small bomb of nested aliases).
      const m = /^(\s*[\w-]+:)\s*(.*)$/.exec(lines[i]!);
      if (m) {
        lines[i] = `${m[1]} &a ${m[2]}`;
        const j = Math.floor(rng() * lines.length);
        const n = /^(\s*[\w-]+:)/.exec(lines[j]!);
        if (n && j !== i) lines[j] = `${n[1]} *a`;
      }
      if (rng() < 0.2)
        lines.push(
          'bomb: &b0 [x, x]',
          ...Array.from({ length: 12 }, (_, k) => `b${k + 1}: &b${k + 1} [*b${k}, *b${k}]`),
        );
      break;
    }
    case 'bracket':
      lines[i] = `${lines[i]} [`;
      break;
    case 'deep':
      lines.push(`deep: ${'['.repeat(40 + Math.floor(rng() * 3000))}`);
      break;
    case 'colon':
      lines[i] = lines[i]!.replace(':', '');
      break;
    case 'proto':
      lines.push(pick(rng, ['__proto__: { polluted: true }', 'constructor: { prototype: { polluted: true } }']));
      break;
  }
  return [lines.join('\n'), op];
}

export interface Mutant {
  seed: number;
  from: string;
  ops: string[];
  text: string;
}

/** Mutant number `n` of the seed corpus: 1–3 structural mutations, then a textual one 30% of the time. */
export function mutant(n: number, corpus: readonly { name: string; text: string }[]): Mutant {
  const rng = mulberry32(0x5eed + n * 7919);
  const seed = corpus[n % corpus.length]!;
  const ops: string[] = [];
  let doc = parse(seed.text) as Record<string, unknown>;
  if (!doc || typeof doc !== 'object') doc = {};
  // Mostly one mutation: a recipe broken in one place gets past the schema more often, into the semantic checks.
  const count = rng() < 0.6 ? 1 : 2 + Math.floor(rng() * 2);
  for (let k = 0; k < count; k++) ops.push(mutateTree(rng, doc));
  let text = stringify(doc, { aliasDuplicateObjects: false });
  if (rng() < 0.3) {
    const [t, op] = mutateText(rng, text);
    text = t;
    ops.push(`text:${op}`);
  }
  return { seed: n, from: seed.name, ops, text };
}

/** A `--set PATH=VALUE` for mutant `n`: a path that exists in the seed (or one past it) and a hostile value. */
export function setArgument(n: number, text: string): string {
  const rng = mulberry32(0xc0ffee + n);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    doc = undefined;
  }
  const paths = nodes(doc).filter((p) => p.length > 0);
  const path = paths.length ? pick(rng, paths) : ['name'];
  const shown = path
    .map((k, i) => (typeof k === 'number' ? `[${rng() < 0.1 ? k + 5 : k}]` : `${i ? '.' : ''}${k}`))
    .join('');
  const value = pick(rng, HOSTILE);
  return `${shown}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
}
