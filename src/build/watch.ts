/**
 * Watch mode's scheduling, in one place: which files each recipe reads, debouncing editors' multi-write
 * saves, cancelling a build in flight when an input changes, and rebuilding only the recipes affected.
 * The terminal UI (src/cli/watch.ts) only listens to its events.
 */
import type { FSWatcher } from 'chokidar';
import { readFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { defaultCacheDir, type BuildOptions, type BuildResult } from '../pipeline/index.js';
import { buildSet, type SetResult } from './build.js';
import { datasetPaths } from '../data/index.js';
import { isCancelled } from '../errors.js';
import type { BuildEvent } from '../execute/index.js';
import { extendedFiles, type Recipe } from '../recipe/index.js';
import { loadRecipeSet } from '../language/index.js';

export type WatchEvent =
  | { type: 'build-start'; recipe: string; trigger: string }
  | { type: 'build-event'; recipe: string; event: BuildEvent }
  /** `result` is the build (the last variant's, for a matrix); `set` has every variant and the sweep's summary. */
  | { type: 'build-done'; recipe: string; result: BuildResult; set: SetResult; seconds: number }
  | { type: 'build-failed'; recipe: string; error: unknown }
  | { type: 'build-cancelled'; recipe: string }
  | { type: 'idle'; watching: number };

export interface WatchOptions extends Omit<BuildOptions, 'signal' | 'onEvent'> {
  /** Quiet period after the last change before a rebuild starts (default 150 ms). */
  debounceMs?: number;
  onEvent: (e: WatchEvent) => void;
}

/**
 * The files a recipe's build reads: the recipe and the files it extends, for a model file model.json and its
 * shards, and the data files and image folders (watched whole) of its datasets.
 */
export async function recipeInputs(recipe: Recipe): Promise<string[]> {
  const files = [...recipe.files];
  const specs = [
    recipe.data.eval,
    recipe.data.calibration,
    recipe.data.train,
    recipe.model.kind === 'train' ? recipe.model.train.data : undefined,
  ];
  for (const d of specs) if (d) files.push(...datasetPaths(d));
  if (recipe.model.kind === 'file') {
    files.push(recipe.model.path);
    try {
      const json = JSON.parse(await readFile(recipe.model.path, 'utf8')) as {
        weightsManifest?: { paths?: string[] }[];
      };
      for (const group of json.weightsManifest ?? [])
        for (const p of group.paths ?? []) files.push(resolve(dirname(recipe.model.path), p));
    } catch {
      /* the build reports a bad model; watching model.json is enough to notice the fix */
    }
  }
  return files;
}

export class RecipeWatcher {
  private readonly recipes: string[];
  private readonly inputs = new Map<string, Set<string>>();
  /** Folders builds write to: never watched, so their writes cannot retrigger a build. */
  private readonly written = new Set<string>();
  private watcher: FSWatcher | undefined;
  private pending = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    recipes: readonly string[],
    private readonly opts: WatchOptions,
  ) {
    this.recipes = recipes.map((r) => resolve(r));
    for (const r of this.recipes) this.inputs.set(r, new Set([r]));
  }

  /** Builds every recipe once, then watches. */
  async start(): Promise<void> {
    // Loaded here, not with the module: `mcbuild build` without --watch need not pay for chokidar.
    const { watch } = await import('chokidar');
    this.watcher = watch([...this.recipes], {
      ignoreInitial: true,
      ignored: (path: string) => [...this.written].some((dir) => path === dir || path.startsWith(dir + sep)),
    });
    for (const event of ['add', 'change', 'unlink'] as const)
      this.watcher.on(event, (path: string) => this.changed(resolve(path)));
    await new Promise<void>((ready) => this.watcher!.once('ready', () => ready()));
    this.schedule(this.recipes, 'start', 0);
  }

  /** Rebuild now (the `r` key). */
  rebuildAll(): void {
    this.schedule(this.recipes, 'rebuild requested', 0);
  }

  /** Cancels the build in flight; false when none was running. */
  cancel(): boolean {
    if (!this.running || !this.controller) return false;
    this.controller.abort();
    return true;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  get watchedFiles(): number {
    return new Set([...this.inputs.values()].flatMap((s) => [...s])).size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.controller?.abort();
    await this.running;
    await this.watcher?.close();
  }

  private changed(path: string): void {
    // A path inside a watched image folder belongs to the recipes that read the folder.
    const reads = (inputs: Set<string> | undefined) =>
      inputs !== undefined && (inputs.has(path) || [...inputs].some((p) => path.startsWith(p + sep)));
    const affected = this.recipes.filter((r) => reads(this.inputs.get(r)));
    if (affected.length === 0) return;
    // An input of the build in flight changed: its result would be stale, so stop it now.
    this.controller?.abort();
    this.schedule(affected, `${path} changed`, this.opts.debounceMs ?? 150);
  }

  private schedule(recipes: readonly string[], trigger: string, delay: number): void {
    for (const r of recipes) this.pending.set(r, trigger);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  private async flush(): Promise<void> {
    // A build in flight was cancelled by the change; when it unwinds it flushes what is pending.
    if (this.closed || this.running) return;
    const batch = [...this.pending];
    this.pending.clear();
    if (batch.length === 0) return;
    const controller = new AbortController();
    this.controller = controller;
    this.running = (async () => {
      for (const [recipe, trigger] of batch) {
        if (controller.signal.aborted || this.closed) break;
        await this.buildOne(recipe, trigger, controller.signal);
      }
    })();
    await this.running;
    this.running = undefined;
    this.controller = undefined;
    if (this.pending.size > 0) void this.flush();
    else if (!this.closed) this.opts.onEvent({ type: 'idle', watching: this.watchedFiles });
  }

  private async buildOne(recipe: string, trigger: string, signal: AbortSignal): Promise<void> {
    const { onEvent, debounceMs: _d, ...buildOpts } = this.opts;
    onEvent({ type: 'build-start', recipe, trigger });
    const started = performance.now();
    try {
      await this.track(recipe);
      const set = await buildSet(recipe, {
        ...buildOpts,
        signal,
        onEvent: (event) => onEvent({ type: 'build-event', recipe, event }),
      });
      // Every variant of a sweep stopped at a pass that changed nothing: nothing was built.
      const result = set.results.at(-1);
      if (!result) throw set.failed[0]!.error;
      onEvent({
        type: 'build-done',
        recipe,
        result,
        set,
        seconds: (performance.now() - started) / 1000,
      });
    } catch (error) {
      if (isCancelled(error)) onEvent({ type: 'build-cancelled', recipe });
      else onEvent({ type: 'build-failed', recipe, error });
    }
  }

  /** Re-reads what a recipe depends on (it may have just changed) and watches it. */
  private async track(recipe: string): Promise<void> {
    let files: string[];
    try {
      // Every variant of a matrix reads the same files; each writes its own output folder.
      const set = await loadRecipeSet(recipe, this.opts);
      files = [...new Set((await Promise.all(set.variants.map(recipeInputs))).flat())];
      for (const r of set.variants) this.written.add(resolve(r.output));
      if (this.opts.output) this.written.add(resolve(this.opts.output));
      this.written.add(resolve(this.opts.cacheDir ?? defaultCacheDir(set.file)));
    } catch {
      // A broken recipe: keep watching it and the files it extends (the error may be in a base), so the fix is
      // noticed; the build reports the error.
      files = await extendedFiles(recipe);
    }
    const known = this.inputs.get(recipe)!;
    const added = files.filter((f) => !known.has(f));
    this.inputs.set(recipe, new Set([...known, ...files]));
    if (added.length) this.watcher?.add(added);
  }
}
