/**
 * Where a pass entry's options and its override blocks' settings were written. The planner reads them from
 * the recipe; a pass step carries them as a table (recordPlaces) so that its errors, wherever it runs, still
 * name the recipe line to fix.
 */
import type { OptionsPlace } from '../passes/index.js';
import {
  formatPosition,
  recordPlaces,
  type DataPath,
  type PassEntry,
  type Position,
  type RecipeSource,
} from '../recipe/index.js';
import type { LayerRule } from './layers.js';

/** Where the options of pass entry `index` were written: for resolveOptions here, and for apply() in a runner. */
export function optionsPlace(source: RecipeSource, index: number, name: string): OptionsPlace {
  const path = ['passes', index, name];
  return {
    path,
    at: (option) => formatPosition(source.positionOf(option === undefined ? path : [...path, option])),
  };
}

/** The positions a pass step's errors may name: its entry's options and every setting of its override blocks. */
export function passPlaces(
  source: RecipeSource,
  entry: PassEntry,
  rules: readonly LayerRule[],
): Record<string, Position> {
  const paths: DataPath[] = [['passes', entry.index, entry.name]];
  for (const option of Object.keys(entry.rawOptions)) paths.push(['passes', entry.index, entry.name, option]);
  for (const rule of rules) {
    paths.push(['overrides', rule.block, entry.name]);
    if (rule.set !== 'skip')
      for (const option of Object.keys(rule.set)) paths.push(['overrides', rule.block, entry.name, option]);
  }
  return recordPlaces(source, paths);
}
