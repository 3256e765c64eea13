/**
 * The recipe text `mcbuild init` writes for a model (./init-fit.ts says what it read): a data section the
 * model's input takes (images at its size, or raw arrays), the passes that apply to its format, and a gate on
 * fidelity for every output and on size. A model that takes mnist's digits and gives 10 classes keeps the
 * original starter recipe: builtin data with labels, gated on accuracy.
 */
import { basename, dirname, join, relative, sep } from 'node:path';
import { findProjectRoot, schemaPath } from '../recipe/index.js';
import type { InitFit, InitOutput } from './init-fit.js';

export interface StarterOptions {
  recipeFile: string;
  modelJson: string;
  name: string;
  /** What the model takes and gives; without it (or for an mnist classifier), the mnist starter. */
  fit?: InitFit;
  /** The input shape with its batch dimension, for the mnist starter's note when it cannot tell the fit. */
  inputShape?: (number | null)[] | undefined;
  layers?: { name: string; className?: string; op?: string }[];
}

/** A path relative to `fromDir`, with forward slashes and a leading ./ for YAML readers. */
function relPath(fromDir: string, to: string): string {
  const r = relative(fromDir, to).split(sep).join('/');
  if (r === '') return '.';
  return r.startsWith('../') || r === '..' || r.startsWith('/') || /^[A-Za-z]:/.test(r) ? r : `./${r}`;
}

/** A YAML scalar: plain when safe, else double-quoted (JSON strings are valid YAML). */
export function scalar(s: string): string {
  return /^[A-Za-z0-9._/-][A-Za-z0-9._/ -]*$/.test(s) && !s.endsWith(' ') && !/^[-.]+$/.test(s) ? s : JSON.stringify(s);
}

const dimsText = (shape: readonly (number | null)[] | undefined) =>
  shape ? `[${shape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]` : '[?]';

/** Comment columns: the value, then its comment from column 36 (or one space after a longer value). */
const commented = (value: string, comment: string) => `${value.padEnd(35)} # ${comment}`;

export function starterRecipe(opts: StarterOptions): string {
  const dir = dirname(opts.recipeFile);
  const modelDir = dirname(opts.modelJson);
  // Default layout: out/<name> at the project root, unless that is the model's folder, inside it (a rebuild of
  // the model would delete it) or around it: then next to the model's folder.
  const within = (a: string, b: string) => a === b || a.startsWith(`${b}${sep}`);
  let outDir = join(findProjectRoot(opts.recipeFile), 'out', opts.name);
  if (within(outDir, modelDir) || within(modelDir, outDir)) outDir = join(dirname(modelDir), opts.name);
  if (within(outDir, modelDir) || within(modelDir, outDir)) outDir = join(dirname(modelDir), `${opts.name}-2`);
  const file = basename(opts.recipeFile);
  const fit = opts.fit;
  const mnist = !fit || fit.data === 'mnist';
  const lines = [
    `# yaml-language-server: $schema=${relPath(dir, schemaPath('recipe.schema.json'))}`,
    '#',
    `# A starter recipe written by \`mcbuild init\`. Check it with \`mcbuild validate ${file}\` (runs nothing),`,
    `# build it with \`mcbuild ${file}\`. Relative paths in this file are relative to this file.`,
    ...(fit ? describeModel(fit) : []),
    'version: 1',
    `name: ${scalar(opts.name)}    # shown in reports; letters, digits, . _ -`,
    '',
    '# The baseline: a TF.js layers or graph model.json with its weight shards next to it.',
    '# (`model: { train: { architecture: mlp, dataset: mnist } }` would train a builtin architecture instead.)',
    'model:',
    `  path: ${scalar(relPath(dir, opts.modelJson))}`,
    '',
    ...(mnist ? mnistBody(opts) : modelBody(fit)),
    ...overridesExample(opts.layers ?? [], fit?.format ?? 'layers'),
    ...(mnist ? mnistGate() : gate(fit)),
    '',
    '# Where model.json, its weight shards and report.json are written.',
    `output: ${scalar(relPath(dir, outDir))}`,
    '',
    '# runtime: { backend: auto }          # auto | tensorflow | wasm | cpu',
    '',
  ];
  return lines.join('\n');
}

/** What init read, so the user can check it against what they know of the model. */
function describeModel(fit: InitFit): string[] {
  const tensor = (t: { name: string; shape?: (number | null)[] | undefined; dtype?: string }) =>
    `${t.name} ${dimsText(t.shape)}${t.dtype ? ` ${t.dtype}` : ''}`;
  const outs = fit.outputs.map((o) => `${o.name} (${o.width ?? '?'} wide${o.softmax ? ', softmax' : ''})`);
  const lines = [
    '#',
    `# The model (a ${fit.format} model), as \`mcbuild init\` read it: input ${fit.inputs.map(tensor).join(', ') || 'unknown'};`,
    `# output${outs.length === 1 ? '' : 's'} ${outs.join(', ') || 'unknown'}.`,
  ];
  if (fit.inputs.length > 1)
    lines.push(
      `# NOTE: mcbuild feeds one input per sample; this model takes ${fit.inputs.length}, which planning refuses.`,
    );
  return lines;
}

/** The original starter: builtin mnist digits with labels, uint8, gated on accuracy. */
function mnistBody(opts: StarterOptions): string[] {
  const lines = [
    '# Baseline and result are both measured on these same samples.',
    'data:',
    '  eval: { dataset: mnist, split: test }   # the 1,996 MNIST test digits; add `limit: 500` for a quicker run',
  ];
  if (!opts.fit && opts.inputShape && !opts.inputShape.slice(1).some((d) => d === null)) {
    const key = opts.inputShape.slice(1).join(',');
    if (key !== '28,28,1' && key !== '28,28' && key !== '784')
      lines.push(
        `  # NOTE: this model takes inputs of shape ${dimsText(opts.inputShape)}, but mnist gives [28, 28, 1] images:`,
        '  # mnist may not fit this model. Give it `dataset: images` or `npy` data instead (docs/datasets.md).',
      );
  }
  lines.push(
    '  # train: { dataset: mnist, split: train }   # needed by passes that train (finetune)',
    '',
    '# Compression passes, applied in order; each entry is one pass and its options.',
    'passes:',
    '  - quantize: { dtype: uint8 }        # affine uint8, one min and scale per tensor: ~4x smaller than float32',
    '  # - quantize: { dtype: float16 }    # 2x smaller, usually without accuracy loss',
    '  # - quantize: { dtype: uint16 }     # 2x smaller, finer steps than uint8',
    '  # - finetune: { epochs: 1 }         # train further on data.train (float32 out: put it before quantize)',
    '',
  );
  return lines;
}

function mnistGate(): string[] {
  return [
    '# The gate: a missed threshold fails the build with exit code 1, so it can gate CI.',
    'thresholds:',
    '  accuracy: { maxDrop: 0.01 }         # at most 1 percentage point below the baseline',
    '  # size: { maxBytes: 300kB, minRatio: 3.5 }   # at most 300 kB, and at least 3.5x smaller than the baseline',
  ];
}

/** Data and passes for a model of its own kind: label-free samples of its input, the passes its format takes. */
function modelBody(fit: InitFit): string[] {
  return [...dataSection(fit), '', ...passes(fit), ''];
}

function dataSection(fit: InitFit): string[] {
  const input = fit.inputs[0];
  const lines = [
    '# Baseline and result are both measured on these same samples. No labels are needed: the result is',
    "# compared with the original model's outputs (thresholds.fidelity below).",
    'data:',
  ];
  if (fit.data === 'images' && fit.image) {
    const { size, channels } = fit.image;
    lines.push(
      '  # Point `path` at a folder of images like those the model will see (PNG/JPEG of any size; a few hundred',
      '  # are enough). Images directly in the folder are label-free; class sub-folders would add labels.',
      '  eval:',
      '    dataset: images',
      commented('    path: ./images', 'relative to this file'),
      commented('    # limit: 200', 'read only the first 200 images, for a quicker run'),
      '    preprocess:',
      size
        ? commented(`      size: [${size.join(', ')}]`, "the model's input size: every image is resized to it")
        : commented('      # size: [224, 224]', "the model's input size is open: each image keeps its own"),
      commented('      resize: stretch', 'or centre-crop (classifiers) | letterbox (detectors)'),
      commented(`      channels: ${channels}`, `the model's input channels${channels === 1 ? ' (grey)' : ' (RGB)'}`),
      commented('      # order: bgr', 'for Caffe/OpenCV-trained models'),
      '      # Pixels become 0..1 by default (scale 1/255); write what the model was trained with, e.g. [-1, 1]:',
      '      # scale: 0.00784313725490196',
      '      # offset: -1',
      commented('      # mean: [0.485, 0.456, 0.406]', 'or ImageNet-style mean and std, after scale'),
      '      # std: [0.229, 0.224, 0.225]',
    );
    if (fit.format === 'layers')
      lines.push('  # train: { dataset: images, path: ./images-train, preprocess: { channels: 3 } }   # for finetune');
    return lines;
  }
  const shape = input?.shape
    ? `[N, ${input.shape
        .slice(1)
        .map((d) => d ?? '?')
        .join(', ')}]`
    : '[N, ...input shape]';
  const integer = input !== undefined && input.dtype !== 'float32';
  lines.push(
    `  # Point \`x\` at a .npy file of inputs like those the model will see, shaped ${shape} (N samples).`,
    integer
      ? `  # The model's input is ${input.declared ?? input.dtype}: the values are fed as they are (raw values, e.g. pixels`
      : '  # Values are fed as stored (float or integer dtypes); `scale`, `offset`, `mean` and `std` can normalise',
    integer
      ? '  # 0..255, no normalisation: the model normalises them itself). No `y` is needed: label-free.'
      : '  # them. No `y` is needed: label-free data.',
    commented('  eval: { dataset: npy, x: ./inputs.npy }', 'relative to this file'),
  );
  if (fit.format === 'layers') lines.push('  # train: { dataset: npy, x: ./train-inputs.npy }   # for finetune');
  return lines;
}

function passes(fit: InitFit): string[] {
  const stored =
    fit.stored === '8-bit'
      ? [
          '  # NOTE: the source already stores weights in 8 bits: int8 would not make it smaller (biases and scales',
          '  # come out float32), so this recipe goes to int4; check the fidelity gate on your images.',
        ]
      : fit.stored === 'float16'
        ? ['  # NOTE: the source already stores weights as float16: int8 kernels halve them (see thresholds.size).']
        : [];
  const lines = [
    '# Compression passes, applied in order; each entry is one pass and its options.',
    'passes:',
    ...stored,
  ];
  if (fit.format === 'layers')
    lines.push(
      commented('  # - prune: { sparsity: 0.5 }', 'half the weights of each layer to zero, then'),
      commented('  # - finetune: { epochs: 1 }', 'learn back from the original (teacher: baseline) on'),
      commented('  #', 'data.train, no labels needed; quantize last'),
    );
  else
    lines.push(
      commented('  # - prune: { sparsity: 0.5 }', 'works on graph models too; finetune and'),
      commented('  #', 'prune-channels need a layers model'),
    );
  lines.push(
    ...(fit.stored === '8-bit'
      ? [
          commented('  - quantize: { dtype: int4, granularity: per-channel, clip: mse }', 'kernels int4, one'),
          commented('  #', 'scale per output channel; load with mcbuild/runtime'),
          commented('  # - quantize: { dtype: int8, granularity: per-channel }', 'finer, not smaller here'),
        ]
      : [
          commented('  - quantize: { dtype: int8, granularity: per-channel }', 'kernels int8, one scale per'),
          commented('  #', 'output channel: ~4x smaller; load with mcbuild/runtime'),
        ]),
    commented('  # - quantize: { dtype: uint8 }', 'instead: one range per tensor, stock TF.js loads it'),
    commented('  # - quantize: { dtype: float16 }', 'instead: 2x smaller, usually lossless, stock TF.js'),
  );
  return lines;
}

/** A fidelity limit an output can show: cosine for vectors, agreement for softmax rows, max error for one value. */
function limitsOf(o: InitOutput): string {
  if (o.width === 1) return '{ maxRelError: 0.05 }';
  return o.softmax ? '{ minCosine: 0.99, minAgreement: 0.95 }' : '{ minCosine: 0.99 }';
}

function gate(fit: InitFit): string[] {
  const lines = [
    '# The gate: a missed threshold fails the build with exit code 1, so it can gate CI. Fidelity compares the',
    "# result's outputs with the original's on data.eval: cosine for vectors, top-1 agreement for softmax",
    "# outputs, the largest error relative to the output's range for one-value outputs (docs/metrics.md).",
    'thresholds:',
  ];
  if (fit.outputs.length <= 1) {
    const o = fit.outputs[0] ?? { name: 'output', softmax: false };
    lines.push(`  fidelity: ${limitsOf(o)}`);
  } else {
    lines.push('  fidelity:', '    outputs:                         # a limit for every output, by name');
    for (const o of fit.outputs) lines.push(`      ${scalar(o.name)}: ${limitsOf(o)}`);
  }
  const ratio = { float32: 2.5, float16: 1.5, '8-bit': 1.2 }[fit.stored];
  const why = {
    float32: 'at least 2.5x smaller than the source (int8 kernels are 4x)',
    float16: 'the source is float16: int8 kernels halve it at most',
    '8-bit': 'the source is 8-bit already: int4 kernels halve them',
  }[fit.stored];
  lines.push(commented(`  size: { minRatio: ${ratio} }`, why));
  return lines;
}

/** A commented `overrides` block naming this model's own layers, so per-layer settings start from real names. */
function overridesExample(
  layers: readonly { name: string; className?: string; op?: string }[],
  format: 'layers' | 'graph',
): string[] {
  if (layers.length === 0) return [];
  const shown = layers.length > 8 ? [...layers.slice(0, 6), undefined, layers.at(-1)!] : layers;
  const last = layers.at(-1)!;
  const kind = (l: { className?: string; op?: string }) => l.op ?? l.className;
  const intro =
    format === 'graph'
      ? [
          '# Per-layer settings: blocks of layer names (exact, globs like "conv_*", or "re:<regex>"), classes and/or',
          '# graph ops (`ops: [Conv2D]` matches Conv2D and _FusedConv2D nodes), each giving passes their options for',
          "# those layers, or `skip`; later blocks win. `mcbuild explain` shows the result per layer. This model's",
          `# layers with weights (${layers.length}):`,
        ]
      : [
          '# Per-layer settings: blocks of layer names (exact, globs like "conv_*", or "re:<regex>") and/or classes,',
          '# each giving passes their options for those layers, or `skip`; later blocks win. `mcbuild explain` shows',
          `# the result per layer. This model's layers with weights (${layers.length}):`,
        ];
  const lines = [
    ...intro,
    ...shown.map((l) => (l ? `#   ${l.name}${kind(l) ? ` (${kind(l)})` : ''}` : '#   …')),
    '# overrides:',
    `#   - layers: [${scalar(last.name)}]    # e.g. keep the output layer float32`,
    '#     quantize: skip',
    '',
  ];
  return lines;
}
