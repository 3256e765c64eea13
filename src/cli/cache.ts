import { join, resolve } from 'node:path';
import {
  cacheState,
  formatAge,
  gcCache,
  listCache,
  parseDuration,
  verifyCache,
  type GcResult,
  type VerifyResult,
} from '../cache/index.js';
import { McbError } from '../errors.js';
import { findProjectRoot } from '../recipe/index.js';
import { formatBytes, parseByteSize } from '../util/bytes.js';
import type { Command, CommandContext } from './command.js';

const SUBCOMMANDS = ['ls', 'verify', 'gc'] as const;
type Sub = (typeof SUBCOMMANDS)[number];
const GC_ONLY = ['max-size', 'max-age', 'dry-run'] as const;

export const cacheCommand: Command = {
  name: 'cache',
  summary: 'list the step cache, verify it, or remove old entries (gc)',
  usage: 'mcbuild cache ls|verify|gc [--cache-dir DIR] [--max-size SIZE] [--max-age AGE] [--dry-run] [options]',
  positionals: { name: 'ls, verify or gc', min: 1, max: 1 },
  options: {
    'cache-dir': {
      type: 'string',
      value: 'DIR',
      description: 'the step cache (default: cache/ at the project root above the current folder)',
    },
    'max-size': {
      type: 'string',
      value: 'SIZE',
      description: 'gc: remove the oldest entries until the entries total at most SIZE (500MB, 2GB, 1.5GiB)',
    },
    'max-age': {
      type: 'string',
      value: 'AGE',
      description: 'gc: remove entries written longer ago than AGE (45s, 90m, 12h, 30d, 2w)',
    },
    'dry-run': { type: 'boolean', description: 'gc: print what would be removed and remove nothing' },
  },
  examples: [
    'mcbuild cache ls',
    'mcbuild cache ls --json | jq ".entries[].key"',
    'mcbuild cache verify',
    'mcbuild cache gc --max-size 2GB --max-age 30d',
    'mcbuild cache gc --max-age 7d --dry-run',
    'mcbuild cache gc            # only stale leases and content no entry uses',
  ],
  async run(ctx) {
    const sub = ctx.positionals[0]!;
    if (!SUBCOMMANDS.includes(sub as Sub)) {
      throw new McbError(
        'MCB_USAGE',
        `\`mcbuild cache\` has no subcommand ${JSON.stringify(sub)}: use ls (list entries), verify (check every entry) or gc (remove entries). Run \`mcbuild cache --help\`.`,
      );
    }
    if (sub !== 'gc') {
      const misplaced = GC_ONLY.find((o) => ctx.values[o] !== undefined);
      if (misplaced)
        throw new McbError(
          'MCB_USAGE',
          `--${misplaced} only applies to \`mcbuild cache gc\`, not \`mcbuild cache ${sub}\`. Drop it, or run \`mcbuild cache gc --${misplaced}${misplaced === 'dry-run' ? '' : ' …'}\`.`,
        );
    }
    const dir = cacheDirOf(ctx);
    if (sub === 'ls') return ls(ctx, dir);
    if (sub === 'verify') return verify(ctx, dir);
    return gc(ctx, dir);
  },
};

function cacheDirOf(ctx: CommandContext): string {
  const given = ctx.values['cache-dir'];
  if (typeof given === 'string') {
    if (given === '') throw new McbError('MCB_USAGE', '--cache-dir needs a folder, e.g. `--cache-dir cache`.');
    return resolve(given);
  }
  // findProjectRoot takes a file and starts at its folder: any name inside the current folder will do.
  return join(findProjectRoot(join(process.cwd(), 'mcbuild')), 'cache');
}

async function ls(ctx: CommandContext, dir: string): Promise<number> {
  const state = await cacheState(dir);
  const listing = state === 'cache' ? await listCache(dir) : { steps: [], incomplete: [] };
  const now = Date.now();
  const newestFirst = [...listing.steps].sort((a, b) => b.time - a.time || a.key.localeCompare(b.key));
  const total = listing.steps.reduce((n, e) => n + e.size, 0);
  const incompleteBytes = listing.incomplete.reduce((n, e) => n + e.size, 0);
  if (ctx.out.json) {
    ctx.out.jsonResult({
      cacheDir: dir,
      entries: newestFirst.map((e) => ({
        key: e.key,
        sizeBytes: e.size,
        files: e.files.length,
        time: new Date(e.time).toISOString(),
        ageSeconds: Math.max(0, Math.floor((now - e.time) / 1000)),
      })),
      incomplete: listing.incomplete.map((e) => ({
        key: e.key,
        sizeBytes: e.size,
        files: e.entries.length,
        time: new Date(e.time).toISOString(),
      })),
      totals: {
        entries: listing.steps.length,
        sizeBytes: total,
        incompleteEntries: listing.incomplete.length,
        incompleteBytes,
      },
    });
    return 0;
  }
  if (listing.steps.length === 0) {
    ctx.out.result(
      `cache ${dir}: no entries${state === 'missing' ? ' (the folder does not exist yet; a build creates it)' : ''}`,
    );
  } else {
    const rows = [
      ['key', 'size', 'age', 'files'],
      ...newestFirst.map((e) => [
        e.key.slice(0, 12),
        formatBytes(e.size),
        formatAge(now - e.time),
        String(e.files.length),
      ]),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    const line = (r: string[]) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
    ctx.out.result(
      [
        `cache ${dir}`,
        line(rows[0]!),
        ...rows.slice(1).map(line),
        `${plural(listing.steps.length, 'entry', 'entries')}, ${formatBytes(total)}`,
      ].join('\n'),
    );
  }
  if (listing.incomplete.length > 0) {
    ctx.out.result(
      `${plural(listing.incomplete.length, 'incomplete entry', 'incomplete entries')} (${formatBytes(incompleteBytes)}) left by a build that was stopped before committing; \`mcbuild cache gc\` removes them`,
    );
  }
  return 0;
}

async function verify(ctx: CommandContext, dir: string): Promise<number> {
  const r = await verifyCache(dir);
  if (ctx.out.json) {
    ctx.out.jsonResult({ ...r, consistent: true });
    return 0;
  }
  ctx.out.result(verifyText(r));
  return 0;
}

function verifyText(r: VerifyResult): string {
  const lines = [
    `cache ${r.cacheDir}: ${plural(r.checked, 'entry', 'entries')} checked, ${r.ok} ok, ${r.removed.length} removed`,
  ];
  for (const d of r.removed)
    lines.push(`  removed ${d.key.slice(0, 12)}: ${d.reason} (the next build that needs it runs that step again)`);
  lines.push(...locksText(r.locks, false));
  lines.push(sweepText(r.sweep));
  if (r.incomplete > 0)
    lines.push(
      `${plural(r.incomplete, 'incomplete entry', 'incomplete entries')} left by a stopped build; \`mcbuild cache gc\` removes them`,
    );
  lines.push(
    `${formatBytes(r.reclaimedBytes)} reclaimed. ${r.removed.length || r.sweep.corruptFiles || r.sweep.droppedIndexLines || r.locks.stale.length ? 'Fixed: the cache is consistent now.' : 'The cache is consistent.'}`,
  );
  return lines.join('\n');
}

function sweepText(s: GcResult['sweep']): string {
  if (!s.ran) return `content sweep: skipped (${s.skipped ?? 'not needed'})`;
  return `content sweep: ${plural(s.unreferencedFiles, 'unreferenced file', 'unreferenced files')}, ${plural(s.corruptFiles, 'corrupt file', 'corrupt files')} and ${plural(s.tmpFiles, 'temporary file', 'temporary files')} of stopped builds deleted, ${plural(s.droppedIndexLines, 'index line', 'index lines')} without content dropped`;
}

/** Step locks: only worth a line when there are some. */
function locksText(l: GcResult['locks'], dryRun: boolean): string[] {
  const lines: string[] = [];
  const holders = (list: { holder: string }[]) => [...new Set(list.map((x) => x.holder))].join(', ');
  if (l.stale.length)
    lines.push(
      `${dryRun ? 'would remove' : 'removed'} ${plural(l.stale.length, 'stale step lock', 'stale step locks')} of builds that stopped while computing (${holders(l.stale)})`,
    );
  if (l.live.length)
    lines.push(
      `${plural(l.live.length, 'step lock', 'step locks')} held by running builds (${holders(l.live)}): left alone`,
    );
  if (l.leftovers)
    lines.push(
      `${dryRun ? 'would remove' : 'removed'} ${plural(l.leftovers, 'temporary file', 'temporary files')} stopped builds left beside the locks and build records`,
    );
  return lines;
}

async function gc(ctx: CommandContext, dir: string): Promise<number> {
  const opts: { maxSize?: number; maxAge?: number; dryRun?: boolean } = { dryRun: ctx.values['dry-run'] === true };
  const size = ctx.values['max-size'];
  if (typeof size === 'string') {
    const n = parseByteSize(size);
    if (n === undefined)
      throw new McbError(
        'MCB_USAGE',
        `--max-size must be a byte size such as 500MB, 2GB or 1.5GiB (got ${JSON.stringify(size)}).`,
      );
    opts.maxSize = n;
  }
  const age = ctx.values['max-age'];
  if (typeof age === 'string') {
    const ms = parseDuration(age);
    if (ms === undefined)
      throw new McbError(
        'MCB_USAGE',
        `--max-age must be a number and a unit: s, m, h, d or w, such as 45s, 90m, 12h, 30d or 2w (got ${JSON.stringify(age)}).`,
      );
    opts.maxAge = ms;
  }
  const r = await gcCache(dir, opts);
  if (ctx.out.json) {
    ctx.out.jsonResult(r);
    return 0;
  }
  ctx.out.result(gcText(r, Date.now()));
  return 0;
}

function gcText(r: GcResult, now: number): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const entries = r.removed.filter((e) => e.reason !== 'incomplete');
  const incomplete = r.removed.filter((e) => e.reason === 'incomplete');
  const lines = [`cache ${r.cacheDir}${r.dryRun ? ' (dry run: nothing is removed)' : ''}`];
  const limits = [
    r.limits.maxSize !== undefined ? `max-size ${formatBytes(r.limits.maxSize)}` : '',
    r.limits.maxAge !== undefined ? `max-age ${formatAge(r.limits.maxAge)}` : '',
  ].filter(Boolean);
  if (limits.length === 0)
    lines.push('no --max-size or --max-age: removing only stale leases, incomplete entries and unreferenced content');
  lines.push(`${verb} ${plural(entries.length, 'entry', 'entries')}${limits.length ? ` (${limits.join(', ')})` : ''}`);
  for (const e of entries)
    lines.push(
      `  ${e.key.slice(0, 12)}  ${formatBytes(e.size).padStart(9)}  ${formatAge(now - e.time).padStart(4)}  ${e.reason}`,
    );
  if (incomplete.length)
    lines.push(
      `${verb} ${plural(incomplete.length, 'incomplete entry', 'incomplete entries')} (${formatBytes(incomplete.reduce((n, e) => n + e.size, 0))}) a stopped build never committed`,
    );
  if (r.held.length) {
    lines.push(`kept ${plural(r.held.length, 'entry', 'entries')} a running build holds:`);
    for (const h of r.held)
      lines.push(
        `  ${h.key.slice(0, 12)}  ${formatBytes(h.size).padStart(9)}  ${formatAge(now - h.time).padStart(4)}  held by pid ${h.pids.join(', ')} (over ${h.reason})`,
      );
  }
  lines.push(
    `kept ${plural(r.kept.entries, 'entry', 'entries')}, ${formatBytes(r.kept.bytes)}${r.overMaxSize ? ' — still over --max-size because running builds hold entries; run gc again after they finish' : ''}`,
  );
  if (r.staleLeases.length)
    lines.push(
      `${r.dryRun ? 'would delete' : 'deleted'} ${plural(r.staleLeases.length, 'stale lease', 'stale leases')} of builds no longer running (pid ${r.staleLeases.map((l) => l.pid).join(', ')})`,
    );
  for (const f of r.unknownLeaseFiles) lines.push(`note: ignored ${f}: it names no process`);
  lines.push(...locksText(r.locks, r.dryRun));
  lines.push(sweepText(r.sweep));
  lines.push(
    r.dryRun ? `about ${formatBytes(r.reclaimedBytes)} would be freed` : `${formatBytes(r.reclaimedBytes)} freed`,
  );
  return lines.join('\n');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
