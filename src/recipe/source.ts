import { isMap, isScalar, LineCounter, type Document, type Node } from 'yaml';
import { relative } from 'node:path';

/** A path into the recipe's data, as ajv and our own checks name places: ['passes', 1, 'quantize', 'bits']. */
export type DataPath = ReadonlyArray<string | number>;

export interface Position {
  file: string;
  line: number;
  col: number;
  /** Set for values that come from the command line (`--set`): shown instead of file:line:col. */
  label?: string;
}

/** Where values of a recipe were written: one YAML file, or several merged by `extends` and `--set`. */
export interface RecipeSource {
  /** The recipe file named on the command line. */
  readonly file: string;
  positionOf(path: DataPath, opts?: { key?: boolean }): Position;
}

/**
 * Finds where a value was written in the YAML text, so every error can say "at recipes/x.yaml:12:15".
 * Falls back to the nearest ancestor that exists (a missing key is reported where its parent was written).
 */
export class SourceMap implements RecipeSource {
  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** Position of the value at `path`, or with `key: true` of the key that names it. */
  positionOf(path: DataPath, opts: { key?: boolean } = {}): Position {
    for (let n = path.length; n >= 0; n--) {
      const node = this.nodeAt(path.slice(0, n), opts.key === true && n === path.length);
      if (node?.range) return this.at(node.range[0]);
    }
    return { file: this.file, line: 1, col: 1 };
  }

  at(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  private nodeAt(path: DataPath, wantKey: boolean): Node | undefined {
    if (path.length === 0) return this.doc.contents ?? undefined;
    if (wantKey) {
      const parent = this.doc.getIn(path.slice(0, -1), true);
      const last = path[path.length - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last));
        if (pair && isScalar(pair.key)) return pair.key;
      }
    }
    const node = this.doc.getIn(path, true);
    return node !== undefined && node !== null && typeof node === 'object' && 'range' in node
      ? (node as Node)
      : undefined;
  }
}

/** "recipes/x.yaml:12:15", relative to the working directory when that is shorter. */
export function formatPosition(p: Position): string {
  if (p.label !== undefined) return p.label;
  const rel = relative(process.cwd(), p.file);
  const shown = rel && !rel.startsWith('..') ? rel : p.file;
  return `${shown}:${p.line}:${p.col}`;
}

/** `passes[1].quantize.bits` — the way users read a place in YAML. */
export function formatDataPath(path: DataPath): string {
  if (path.length === 0) return 'the recipe';
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

/** A value set on the command line: every position inside it is the `--set` argument itself. */
export class CommandLineSource implements RecipeSource {
  constructor(
    readonly file: string,
    private readonly argument: string,
  ) {}

  positionOf(): Position {
    return { file: this.file, line: 0, col: 0, label: `the command line (--set ${this.argument})` };
  }
}

/**
 * Which document wrote each value of a merged recipe. A node without children owns everything below it, at
 * `path` inside `source`; merging gives a node children where two documents both wrote values.
 */
export interface Owner {
  source: RecipeSource;
  path: DataPath;
  children?: Map<string, Owner>;
}

export function ownerOf(owner: Owner, key: string | number): Owner {
  return owner.children?.get(String(key)) ?? { source: owner.source, path: [...owner.path, key] };
}

/** Positions in a recipe merged from several documents: each path is looked up in the document that wrote it. */
export class MergedSource implements RecipeSource {
  constructor(
    readonly file: string,
    private readonly root: Owner,
  ) {}

  positionOf(path: DataPath, opts: { key?: boolean } = {}): Position {
    let owner = this.root;
    let i = 0;
    while (i < path.length && owner.children?.has(String(path[i]))) owner = owner.children.get(String(path[i++]))!;
    return owner.source.positionOf([...owner.path, ...path.slice(i)], opts);
  }
}

/** The key under which a path's position is recorded: paths are compared whole, segment by segment. */
function placeKey(path: DataPath): string {
  return JSON.stringify(path);
}

/** The positions of `paths` (and of each path's ancestors, for fallbacks), as a plain table that travels in JSON. */
export function recordPlaces(source: RecipeSource, paths: readonly DataPath[]): Record<string, Position> {
  const out: Record<string, Position> = {};
  for (const path of paths) {
    for (let n = path.length; n >= 0; n--) {
      const key = placeKey(path.slice(0, n));
      if (key in out) break;
      out[key] = source.positionOf(path.slice(0, n));
    }
  }
  return out;
}

/**
 * Positions recorded by recordPlaces, for code that runs without the recipe (a step on a worker): a path not
 * recorded falls back to its nearest recorded ancestor, as SourceMap falls back to the nearest written value.
 */
export class RecordedSource implements RecipeSource {
  constructor(
    readonly file: string,
    private readonly places: Readonly<Record<string, Position>>,
  ) {}

  positionOf(path: DataPath): Position {
    for (let n = path.length; n >= 0; n--) {
      const found = this.places[placeKey(path.slice(0, n))];
      if (found) return found;
    }
    return { file: this.file, line: 1, col: 1 };
  }
}
