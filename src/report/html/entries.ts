/** The builds on a page, each with a label that tells it apart from the others on the same page. */
import type { Report } from '../json.js';
import type { Sweep } from '../sweep.js';

/** The page's name beside report.json (every build) and beside sweep.json (every sweep). */
export const HTML_FILE = 'report.html';

export interface HtmlEntry {
  /** The build's name on the page (legends, headings); the caller makes it unique. */
  label: string;
  report: Report;
  /** Index into `HtmlPage.sweeps` when the report is one variant of a sweep on the page. */
  sweep?: number;
}

export interface HtmlPage {
  entries: readonly HtmlEntry[];
  sweeps?: readonly Sweep[];
}

/** What a page is made of: single reports (`where`: a short name telling two builds of one recipe apart) and sweeps. */
export type HtmlItem =
  { report: Report; where?: string } | { sweep: Sweep; variants: readonly { report: Report; where?: string }[] };

/**
 * The page's entries in order, each labelled by its recipe (and variant); a label two builds would share gets
 * its `where` (e.g. the output folder's name), else a number.
 */
export function htmlPage(items: readonly HtmlItem[]): HtmlPage {
  const sweeps: Sweep[] = [];
  const flat: { report: Report; where?: string; sweep?: number }[] = [];
  for (const item of items) {
    if ('sweep' in item) {
      sweeps.push(item.sweep);
      for (const v of item.variants) flat.push({ ...v, sweep: sweeps.length - 1 });
    } else flat.push(item);
  }
  const base = (r: Report) => (r.variant ? `${r.recipe.name} ${r.variant.name}` : r.recipe.name);
  const count = (labels: string[], l: string) => labels.filter((x) => x === l).length;
  const bases = flat.map((f) => base(f.report));
  const withWhere = flat.map((f, i) =>
    count(bases, bases[i]!) > 1 && f.where ? `${bases[i]} (${f.where})` : bases[i]!,
  );
  const seen = new Map<string, number>();
  const entries = flat.map((f, i) => {
    const l = withWhere[i]!;
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    const label = count(withWhere, l) > 1 ? `${l} #${n}` : l;
    return { label, report: f.report, ...(f.sweep === undefined ? {} : { sweep: f.sweep }) };
  });
  return { entries, ...(sweeps.length ? { sweeps } : {}) };
}
