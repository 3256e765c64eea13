/**
 * The YAML in the documentation is what users copy, so every ```yaml block of README.md and docs/*.md must be
 * valid:
 *  - a block whose first line is `# mcbuild.config.yaml` is the project configuration: it is checked against
 *    schema/config.schema.json;
 *  - every other block is a recipe, or a fragment of one written as top-level recipe keys (only `passes:`, only
 *    `thresholds:`, …). A fragment is merged over a minimal complete recipe, key by key at the top level.
 * A recipe is checked against schema/recipe.schema.json with ajv 2020 as src/recipe/validate.ts compiles it,
 * after what the loader does before validation (a matrix substituted, variant by variant; an `auto` option
 * replaced by its first candidate), and then loaded by the real loader (semantic checks, extends). A complete
 * recipe (version, name, model, data) is also planned, in-process, through the real planner. Blocks run in a
 * temporary project; an `extends` base a block names is written there as the minimal recipe.
 *
 * Text that is not a recipe or a configuration (shell output, a terminal table) must not be fenced as yaml.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import { loadRecipe, plan } from '../../src/index.js';
import { ROOT, tempDir, writeText } from '../helpers.js';

interface Block {
  /** Where it is, for messages: `docs/recipes.md:42` (the line of the opening fence). */
  where: string;
  text: string;
}

const CONFIG_MARK = /^#\s*mcbuild\.config\.yaml\s*$/;
const MINIMAL: Record<string, unknown> = {
  version: 1,
  name: 'docs-fragment',
  model: { train: { architecture: 'mlp' } },
  data: { eval: { dataset: 'mnist', split: 'test', limit: 100 } },
};
const SEARCH_KEYS = ['candidates', 'budget', 'maxTrials', 'maxSeconds'];
const PLACEHOLDER = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

/** Every ```yaml (or ```yml) fenced block of a markdown file. */
function yamlBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\w+)?/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.trim().startsWith(fence); i++) body.push(lines[i]!.slice(open[1]!.length));
    if (/^ya?ml$/i.test(open[3] ?? '')) blocks.push({ where: `${file}:${start + 1}`, text: body.join('\n') });
  }
  return blocks;
}

function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

function compile(schema: string): ValidateFunction {
  const json = JSON.parse(readFileSync(join(ROOT, 'schema', schema), 'utf8')) as Record<string, unknown>;
  return new Ajv2020({ allErrors: true, verbose: true, strict: true }).compile(json);
}

const recipeSchema = compile('recipe.schema.json');
const configSchema = compile('config.schema.json');

function schemaErrors(validate: ValidateFunction, data: unknown): string[] {
  if (validate(data)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
}

/** Parsed as the loader parses recipes: strict, a repeated key is an error. */
function parseYaml(block: Block): unknown {
  const doc = parseDocument(block.text, { uniqueKeys: true, strict: true, prettyErrors: false });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new Error(`${block.where}: the block is not valid YAML: ${problem.message.split('\n')[0]}`);
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isComplete(data: Record<string, unknown>): boolean {
  return ['version', 'name', 'model', 'data'].every((k) => k in data);
}

/** One map of values per variant of the matrix: `[{}]` without one. */
function combinations(matrix: unknown): Record<string, unknown>[] {
  if (!isMap(matrix)) return [{}];
  let out: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(matrix))
    out = out.flatMap((c) => (Array.isArray(values) ? values : []).map((v: unknown) => ({ ...c, [k]: v })));
  return out;
}

/** `${{ matrix.x }}` replaced as the loader replaces it: alone, by the value itself; inside text, by its text. */
function substitute(value: unknown, values: Record<string, unknown>, top = true): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/.exec(value);
    if (whole) return values[whole[1]!];
    return value.replace(PLACEHOLDER, (_, k: string) => String(values[k]));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, values, false));
  if (isMap(value))
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, top && k === 'matrix' ? v : substitute(v, values, false)]),
    );
  return value;
}

/** An option written `auto` becomes its first candidate, and the search settings leave the pass's options. */
function withoutSearch(recipe: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(recipe);
  for (const entry of Array.isArray(copy.passes) ? copy.passes : []) {
    if (!isMap(entry)) continue;
    const options = Object.values(entry)[0];
    if (!isMap(options)) continue;
    const auto = Object.keys(options).find((k) => options[k] === 'auto');
    if (auto === undefined) continue;
    const candidates = options.candidates;
    for (const k of SEARCH_KEYS) delete options[k];
    options[auto] = Array.isArray(candidates) ? candidates[0] : undefined;
  }
  return copy;
}

function variantName(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

/** A temporary project: a package.json at its root, block files under recipes/. */
function project(): string {
  const dir = tempDir('mcbuild-docs-');
  writeText(join(dir, 'package.json'), '{ "private": true }\n');
  return dir;
}

/**
 * Checks one recipe block: the schema (per variant), then the real loader, then, for a complete recipe, the
 * planner. Throws with the block's place on the first problem.
 */
async function checkRecipe(block: Block, data: Record<string, unknown>, dir: string, index: number): Promise<void> {
  const complete = isComplete(data);
  const recipe = complete ? data : { ...MINIMAL, ...data };
  const variants = combinations(recipe.matrix);
  for (const values of variants) {
    const errors = schemaErrors(recipeSchema, withoutSearch(substitute(recipe, values) as Record<string, unknown>));
    if (errors.length)
      throw new Error(
        `${block.where}: ${complete ? 'the recipe' : 'the fragment, over a minimal recipe,'}${recipe.matrix ? ` (variant ${variantName(values)})` : ''} does not match schema/recipe.schema.json:\n  ${errors.join('\n  ')}`,
      );
  }
  const file = join(dir, 'recipes', `block-${index}.yaml`);
  writeText(file, stringify(recipe));
  for (const base of typeof recipe.extends === 'string'
    ? [recipe.extends]
    : Array.isArray(recipe.extends)
      ? recipe.extends
      : []) {
    const path = resolve(dirname(file), String(base));
    if (!existsSync(path)) writeText(path, stringify({ ...MINIMAL, name: 'docs-base' }));
  }
  for (const values of variants) {
    const opts = recipe.matrix ? { variant: variantName(values) } : {};
    try {
      if (complete) await plan(file, { ...opts, cacheDir: join(dir, 'cache'), backend: 'cpu' });
      else await loadRecipe(file, opts);
    } catch (e) {
      throw new Error(
        `${block.where}: ${complete ? 'the recipe does not plan' : 'the fragment, over a minimal recipe, does not load'}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
  }
}

/** Checks one block of any kind; throws with the block's place when it is not valid. */
async function checkBlock(block: Block, dir: string, index: number): Promise<'config' | 'recipe' | 'fragment'> {
  const data = parseYaml(block);
  if (CONFIG_MARK.test(block.text.split('\n')[0] ?? '')) {
    const errors = schemaErrors(configSchema, data ?? {});
    if (errors.length)
      throw new Error(`${block.where}: the block does not match schema/config.schema.json:\n  ${errors.join('\n  ')}`);
    return 'config';
  }
  if (!isMap(data))
    throw new Error(
      `${block.where}: a yaml block must be a recipe, a fragment of top-level recipe keys, or a configuration marked \`# mcbuild.config.yaml\`; fence anything else as text`,
    );
  await checkRecipe(block, data, dir, index);
  return isComplete(data) ? 'recipe' : 'fragment';
}

const blocks = docFiles().flatMap((f) => yamlBlocks(f, readFileSync(join(ROOT, f), 'utf8')));

describe('yaml blocks in README.md and docs/', () => {
  const dir = project();
  const kinds = new Map<string, string>();

  for (const [i, block] of blocks.entries()) {
    it(`${block.where} is valid`, async () => {
      kinds.set(block.where, await checkBlock(block, dir, i));
    });
  }

  it('are found: complete recipes, fragments and the project configuration', () => {
    const counts = (kind: string) => [...kinds.values()].filter((k) => k === kind).length;
    expect(blocks.some((b) => b.where.startsWith('README.md:'))).toBe(true);
    expect(counts('recipe')).toBeGreaterThanOrEqual(2);
    expect(counts('fragment')).toBeGreaterThanOrEqual(10);
    expect(counts('config')).toBeGreaterThanOrEqual(1);
  });
});

describe('the block checker', () => {
  const dir = project();
  let n = 0;
  const check = (text: string, where = 'x.md:1') => checkBlock({ where, text }, dir, n++);

  it('refuses a fragment the schema refuses, naming the block', async () => {
    await expect(check('passes:\n  - quantize: { bits: 3 }\n', 'docs/x.md:7')).rejects.toThrow(
      /docs\/x\.md:7: the fragment.*does not match schema\/recipe\.schema\.json:\n.*passes\/0\/quantize\/bits/s,
    );
  });

  it('refuses a fragment only the loader refuses', async () => {
    // Valid for the schema; mcnemar tests a drop of exactly 0.
    await expect(
      check('thresholds:\n  accuracy: { maxDrop: 0.01, significance: { test: mcnemar } }\n'),
    ).rejects.toThrow(/does not load: .*mcnemar/);
  });

  it('refuses a complete recipe the planner refuses', async () => {
    const recipe = `version: 1\nname: bad\nmodel:\n  train: { architecture: mlp }\ndata:\n  eval: { dataset: mnist }\npasses:\n  - finetune: { epochs: 1 }\n`;
    await expect(check(recipe)).rejects.toThrow(/does not plan: .*data\.train/);
  });

  it('checks every variant of a matrix and an auto option as the loader reads them', async () => {
    const sweep = 'matrix:\n  bits: [8, 3]\npasses:\n  - quantize: { bits: "${{ matrix.bits }}" }\n';
    await expect(check(sweep)).rejects.toThrow(/variant bits=3/);
    await expect(check(sweep.replace('[8, 3]', '[8, 4]'))).resolves.toBe('fragment');
    await expect(check('passes:\n  - quantize: { bits: auto, candidates: [8, 4, 2], maxTrials: 12 }\n')).resolves.toBe(
      'fragment',
    );
  });

  it('checks a block marked as the project configuration against its own schema', async () => {
    await expect(check('# mcbuild.config.yaml\nremoteCache: { url: http://cache:8080 }\n')).resolves.toBe('config');
    await expect(check('# mcbuild.config.yaml\nremoteCache: { url: cache:8080 }\n')).rejects.toThrow(
      /config\.schema\.json/,
    );
    await expect(check('remoteCache: { url: http://cache:8080 }\n')).rejects.toThrow(/recipe\.schema\.json/);
  });

  it('refuses text that is not a map, and a repeated key', async () => {
    await expect(check('4 steps, 2 cached, 2 run in 1.6 s — PASS\n')).rejects.toThrow(/fence anything else as text/);
    await expect(check('name: a\nname: b\n')).rejects.toThrow(/not valid YAML/);
  });

  it('finds fenced yaml blocks, and only those', () => {
    const md = ['text', '```yaml', 'a: 1', '```', '```sh', 'b: 2', '```', '  ```yml', '  c: 3', '  ```'].join('\n');
    expect(yamlBlocks('f.md', md)).toEqual([
      { where: 'f.md:2', text: 'a: 1' },
      { where: 'f.md:8', text: 'c: 3' },
    ]);
  });
});
