export { build, buildSet, SEARCHED_FILE, SWEEP_FILE, type SetResult } from './build.js';
export { RecipeWatcher, type WatchEvent, type WatchOptions } from './watch.js';
