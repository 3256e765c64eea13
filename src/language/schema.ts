/**
 * The recipe JSON Schema, assembled from the definitions: the recipe's own keys (src/recipe/schema/), one
 * branch per dataset kind (src/data/kinds/), one `thresholds.metrics` entry per named metric
 * (src/metrics/named.ts) and, per pass (src/passes/), its entry's options and what an override block may set
 * for one layer. `npm run generate` writes it to schema/recipe.schema.json; the loader validates against the
 * same object, so the published schema describes exactly what the loader accepts.
 */
import { DATASET_KINDS } from '../data/index.js';
import { limitsFor, NAMED_METRICS, type MetricLimit, type NamedMetric } from '../metrics/named.js';
import type { JsonSchema, PassDefinition } from '../passes/index.js';
import { recipeSchemaParts } from '../recipe/index.js';
import { searchKeysSchema, withAuto } from './search.js';

/** Of a pass, the schema reads only its meta (which is the same whatever its options' type). */
type PassWithMeta = Pick<PassDefinition, 'meta'>;

/** The recipe schema for these passes (the registry's, by default: see src/language/index.ts). */
export function buildRecipeSchema(passes: readonly PassWithMeta[]): Record<string, unknown> {
  const parts = recipeSchemaParts();
  const passDefs = Object.fromEntries(passes.map((p) => [`pass-${p.meta.name}`, entrySchema(p)]));
  return {
    ...parts.document,
    properties: {
      ...parts.keys,
      thresholds: {
        ...parts.thresholds,
        properties: { ...parts.thresholdKeys, metrics: metricsSchema(parts.metricsDescription) },
      },
    },
    $defs: {
      dataSpec: dataSpecSchema(parts.dataSpecDescription),
      ...parts.defs,
      passEntry: passEntrySchema(passes, parts.passEntryDescription),
      ...passDefs,
      overrideBlock: overrideBlockSchema(passes, parts.overrideBlockBase),
    },
  };
}

/** `$defs/dataSpec`: `dataset` names a kind, and each kind's `then` branch lists its keys. */
function dataSpecSchema(description: string): JsonSchema {
  const kinds = Object.values(DATASET_KINDS);
  const datasetDescription = `Dataset kind. ${kinds.map((k) => `\`${k.dataset}\`: ${k.schema.summary}`).join(' ')}`;
  return {
    description,
    type: 'object',
    required: ['dataset'],
    properties: { dataset: { description: datasetDescription, enum: kinds.map((k) => k.dataset) } },
    allOf: kinds.map((k) => ({
      type: 'object',
      if: { properties: { dataset: { const: k.dataset } }, required: ['dataset'] },
      then: {
        type: 'object',
        additionalProperties: false,
        required: k.schema.required,
        properties: { dataset: { description: datasetDescription, const: k.dataset }, ...k.schema.properties },
      },
    })),
  };
}

const LIMIT_WORDS: Record<MetricLimit, string> = {
  min: 'Smallest allowed value of the result.',
  max: 'Largest allowed value of the result.',
  maxDrop: 'Largest allowed drop, baseline - result (e.g. 0.01 = one point).',
  maxRelativeDrop: 'Largest allowed drop relative to the baseline, (baseline - result) / baseline.',
  minRatio: 'Smallest allowed ratio baseline / result (e.g. 4 = at least 4x smaller).',
};

/** `thresholds.metrics`: each named metric with the limits its direction allows. */
function metricsSchema(description: string): JsonSchema {
  return {
    description,
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: Object.fromEntries(NAMED_METRICS.map((m) => [m.name, metricLimitsSchema(m)])),
  };
}

function metricLimitsSchema(m: NamedMetric): JsonSchema {
  const own = m.baselineValue === undefined ? '' : ` (the baseline's own is ${m.baselineValue})`;
  const description = `${m.description.charAt(0).toUpperCase()}${m.description.slice(1)}${m.unit === 'nats' ? ', nats' : ''}${own} (${m.better} is better).`;
  const limit = (l: MetricLimit): JsonSchema => {
    if (l === 'minRatio') return { description: LIMIT_WORDS[l], type: 'number', exclusiveMinimum: 0 };
    if (l === 'maxDrop') return { description: LIMIT_WORDS[l], type: 'number', minimum: 0 };
    if (l === 'maxRelativeDrop') return { description: LIMIT_WORDS[l], type: 'number', minimum: 0, maximum: 1 };
    if (m.unit === 'bytes')
      return { description: `${LIMIT_WORDS[l]} Bytes, or a size such as "4MB".`, $ref: '#/$defs/byteSize' };
    return {
      description: LIMIT_WORDS[l],
      type: 'number',
      minimum: 0,
      ...(m.unit === 'fraction' ? { maximum: 1 } : {}),
    };
  };
  return {
    description,
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: Object.fromEntries(limitsFor(m).map((l) => [l, limit(l)])),
  };
}

/** `$defs/passEntry`: a map with exactly one key, a pass's name. */
function passEntrySchema(passes: readonly PassWithMeta[], description: string): JsonSchema {
  return {
    description,
    type: 'object',
    minProperties: 1,
    maxProperties: 1,
    propertyNames: { enum: passes.map((p) => p.meta.name) },
    properties: Object.fromEntries(passes.map((p) => [p.meta.name, { $ref: `#/$defs/pass-${p.meta.name}` }])),
  };
}

/**
 * `$defs/pass-<name>`: the pass's options. A pass that takes options per layer also takes `auto` for one of
 * them, with the search's keys (src/language/search.ts).
 */
function entrySchema(pass: PassWithMeta): JsonSchema {
  const { schema, perLayer } = pass.meta;
  if (!perLayer?.length) return schema;
  return withAuto(
    { ...schema, properties: { ...schema.properties, ...searchKeysSchema() } },
    perLayer.filter((o) => schema.properties[o] !== undefined),
  );
}

/**
 * `$defs/overrideBlock`: which layers, and per pass `skip` or its per-layer options. An option the pass does
 * not take per layer, and a pass that takes none, are refused with the reason (the `not` schemas' descriptions
 * are the messages the loader prints).
 */
function overrideBlockSchema(passes: readonly PassWithMeta[], base: JsonSchema): JsonSchema {
  const properties: Record<string, JsonSchema> = { ...(base.properties as Record<string, JsonSchema>) };
  for (const pass of passes) {
    const { name, perLayer, schema } = pass.meta;
    if (perLayer === undefined) {
      properties[name] = {
        description: `the ${name} pass acts on the whole model and takes no per-layer options; set its options in \`passes\` instead.`,
        not: {},
      };
      continue;
    }
    const takes = perLayer.length
      ? `it takes ${perLayer.join(', ')} per layer, or skip`
      : 'it takes only `skip` per layer';
    const options = Object.fromEntries(
      Object.entries(schema.properties).map(([option, s]) => [
        option,
        perLayer.includes(option)
          ? withoutDefault(s)
          : {
              description: `${name}'s ${option} applies to the whole model, not one layer (${takes}); set it in \`passes\`.`,
              not: {},
            },
      ]),
    );
    properties[name] = {
      description: perLayer.length
        ? `The ${name} pass's options for these layers (${perLayer.join(', ')}; merged over the pass entry's), or \`skip\`.`
        : `\`skip\` leaves these layers out of the ${name} pass (it takes no other per-layer option).`,
      anyOf: [{ const: 'skip' }, { type: 'object', additionalProperties: false, properties: options }],
    };
  }
  return { ...base, properties };
}

/** An option as an override block takes it: a block that leaves it out keeps the entry's value, not the default. */
function withoutDefault(s: JsonSchema): JsonSchema {
  const { default: _default, ...rest } = s;
  return rest;
}
