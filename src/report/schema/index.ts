/**
 * report.json's JSON Schema: the report's own shape (./document.ts and beside it) with each pass's statistics
 * described by that pass's definition (meta.stats). `npm run generate` writes it to schema/report.schema.json.
 */
import type { AnyPass, JsonSchema } from '../../passes/index.js';
import { Check, Count, Fraction, LatencyComparison, Setting, TimedSide } from './defs.js';
import { DOCUMENT, KEYS } from './document.js';
import { METRICS } from './metrics.js';
import { SEARCH } from './search.js';

export function buildReportSchema(passes: readonly AnyPass[]): Record<string, unknown> {
  const passList = KEYS.passes as { items: JsonSchema };
  return {
    ...DOCUMENT,
    properties: {
      ...KEYS,
      passes: {
        ...passList,
        items: {
          ...passList.items,
          // A step's id names its pass (pass-2-quantize): that pass's definition says what its stats hold.
          allOf: passes.map((p) => ({
            if: {
              properties: {
                id: {
                  description: `A step of the ${p.meta.name} pass.`,
                  type: 'string',
                  pattern: `^pass-[0-9]+-${p.meta.name}$`,
                },
              },
              required: ['id'],
            },
            then: {
              properties: {
                stats: {
                  description: `What the ${p.meta.name} pass did (docs/passes.md#${p.meta.name}), or null.`,
                  anyOf: [{ type: 'null' }, p.meta.stats],
                },
              },
            },
          })),
        },
      },
      search: SEARCH,
    },
    $defs: {
      setting: Setting,
      count: Count,
      fraction: Fraction,
      timedSide: TimedSide,
      latencyComparison: LatencyComparison,
      check: Check,
      metrics: METRICS,
    },
  };
}
