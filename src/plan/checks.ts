/** Recipe checks the schema cannot make, before any step is planned: each error names the place to fix. */
import { describeDataset } from '../data/index.js';
import { McbError } from '../errors.js';
import { namedMetric } from '../metrics/named.js';
import { getPass, type OptionsPlace } from '../passes/index.js';
import { formatDataPath, formatPosition, type DataPath, type PassEntry, type Recipe } from '../recipe/index.js';
import { compilePattern, withOption } from './layers.js';

/**
 * Every candidate of an `auto` option must make valid options with the entry's others (the schema has already
 * checked that the option is one the pass takes per layer, and each candidate a value of it).
 */
export function checkSearch(recipe: Recipe, entry: PassEntry, place: OptionsPlace): void {
  const { option, candidates } = entry.search!;
  const pass = getPass(entry.name)!;
  candidates.forEach((value, j) => {
    const at = () => formatPosition(recipe.source.positionOf([...place.path, 'candidates', j]));
    pass.resolveOptions(withOption(entry.rawOptions, option, value, pass.meta.exclusiveOptions), {
      path: place.path,
      at: (o) => (o === option ? at() : place.at(o)),
    });
  });
}

/**
 * Override blocks must configure passes the recipe runs (the schema has checked that each pass takes what the
 * block sets per layer), with patterns that compile and a `pass:` that names an entry.
 */
export function checkOverrides(recipe: Recipe): void {
  const at = (path: DataPath) => formatPosition(recipe.source.positionOf(path, { key: true }));
  const inRecipe = new Set(recipe.passes.map((p) => p.name));
  for (const block of recipe.overrides) {
    // Compile every pattern here, so a bad regex is reported at its own position.
    block.layers?.forEach((p, i) => compilePattern(p, () => at(['overrides', block.index, 'layers', i])));
    if (block.pass !== undefined) {
      const target = recipe.passes[block.pass];
      const path: DataPath = ['overrides', block.index, 'pass'];
      if (!target)
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`${formatDataPath(path)}\` at ${at(path)} is ${block.pass}, but \`passes\` has ${recipe.passes.length} entries (indices from 0); name one of them.`,
        );
      const others = Object.keys(block.passes).filter((n) => n !== target.name);
      if (others.length) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`overrides[${block.index}]\` at ${at(['overrides', block.index])} applies only to passes[${block.pass}] (${target.name}) but configures ${others.join(', ')}; move ${others.length > 1 ? 'those' : 'that'} to another block.`,
        );
      }
    }
    for (const name of Object.keys(block.passes)) {
      const path: DataPath = ['overrides', block.index, name];
      if (!inRecipe.has(name)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`${formatDataPath(path)}\` at ${at(path)} configures the ${name} pass, which \`passes\` does not run; add the pass or remove it from the block (passes: ${[...inRecipe].join(', ') || 'none'}).`,
        );
      }
    }
  }
}

/**
 * Label-free eval data measures fidelity only: a threshold on accuracy, or a search that ranks layers by it,
 * could never be met, so it is refused where it is written.
 */
export function checkLabelFree(recipe: Recipe): void {
  const data = `data.eval (${describeDataset(recipe.data.eval)}, set at ${formatPosition(recipe.source.positionOf(['data', 'eval']))}) has no labels`;
  for (const key of Object.keys(recipe.thresholds.accuracy ?? {})) {
    if (key === 'significance') continue; // it qualifies maxDrop, which is reported
    const path = ['thresholds', 'accuracy', key];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path, { key: true }))} needs labels, but ${data}, so accuracy cannot be measured. Gate on fidelity to the baseline instead, e.g. \`fidelity: { minAgreement: 0.99, maxMeanKl: 0.01 }\`, or use labelled eval data.`,
    );
  }
  for (const name of Object.keys(recipe.thresholds.metrics ?? {})) {
    if (!namedMetric(name)?.needsLabels) continue;
    const path = ['thresholds', 'metrics', name];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path, { key: true }))} needs labels, but ${data}, so ${name} cannot be measured. Gate on fidelity to the baseline instead, e.g. \`metrics: { agreement: { min: 0.99 } }\`, or use labelled eval data.`,
    );
  }
  const searched = recipe.passes.find((p) => p.search);
  if (searched) {
    const path = ['passes', searched.index, searched.name, searched.search!.option];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path))} is auto: the search ranks layers by accuracy, but ${data}. Write a value, or use labelled eval data.`,
    );
  }
}
