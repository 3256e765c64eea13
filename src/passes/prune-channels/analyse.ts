/**
 * The channel spaces of a model, for prune-channels. Walking the topology in order, every Conv2D or Dense
 * output opens a channel space (the layer is its root); the space follows the tensor through layers that keep
 * channels in place and is rewired where it is read:
 *  - BatchNormalization (channels axis): gamma, beta and moving statistics are sliced;
 *  - DepthwiseConv2D: its channels follow its input, so pruning the producer prunes the depthwise kernel and
 *    bias (channel c·m + j of depth multiplier m) and the space continues through it: a depthwise layer is
 *    never a root, its own batch norm and the next pointwise conv's inputs are rewired too;
 *  - activations (except softmax and PReLU), dropout, pooling, zero padding and global pooling: nothing to do;
 *  - Conv2D: input channels of the kernel are sliced (the chain ends there);
 *  - Dense: rows of the kernel; after Flatten of an NHWC tensor, row p·C + c for each spatial position p
 *    (the channel is the fastest-varying index);
 *  - element-wise merges (Add, …): every tensor they combine must keep the same channels, so the spaces of
 *    their inputs become one group (a union-find over spaces).
 * A space read by anything else, or that reaches a model output, blocks its group, with the reason.
 */
import { ChannelSpaces, type Group } from './spaces.js';
import { batchNormAxis, layerClass, type ChannelRule, type Topology } from '../../model/index.js';
import { asText } from '../../util/text.js';

/** How a tensor's channels relate to a space of n channels: channel s·factor + r (r < factor); `spatial` > 0 after Flatten. */
export interface Layout {
  space: number;
  factor: number;
  /** Flattened: P spatial positions, each holding the n·factor channels (0: not flattened). */
  spatial: number;
}

/** A weight edit in a layer that reads a space. */
export type Edit =
  | { kind: 'bn'; layer: string; space: number; factor: number }
  | { kind: 'depthwise'; layer: string; space: number; factor: number; multiplier: number; bias: boolean }
  | { kind: 'conv-in'; layer: string; space: number; factor: number }
  | { kind: 'dense-in'; layer: string; space: number; factor: number; spatial: number };

export type { Group } from './spaces.js';

export interface Analysis {
  groups: Group[];
  edits: Edit[];
  /** Canonical id of a space (after merges). */
  find(space: number): number;
  /** Layer → its output layout, for layers that carry a space. */
  layouts: Map<string, Layout>;
}

/** Walks the topology once: spaces, the groups merges make of them, the edits their readers need, and what blocks them. */
export function analyse(topology: Topology): Analysis {
  const spaces = new ChannelSpaces();
  const { find } = spaces;
  const union = (a: number, b: number) => spaces.union(a, b);
  const block = (s: number, why: string) => spaces.block(s, why);
  const layouts = new Map<string, Layout>();
  const edits: Edit[] = [];
  const shapes = topology.shapes();

  for (const l of topology.layers()) {
    const cls = l.className;
    const ins = l.inbound.map((n) => layouts.get(n));
    const tracked = ins.filter((x): x is Layout => x !== undefined);
    const blockAll = (why: string) => tracked.forEach((t) => block(t.space, why));
    const inp = ins[0];
    const c = l.config;
    const rule = channelRule(cls);
    if (rule === 'root') {
      if (inp) {
        if (cls === 'Conv2D') {
          if (inp.spatial > 0) blockAll(`it is read by ${l.name} (Conv2D) after a Flatten`);
          else edits.push({ kind: 'conv-in', layer: l.name, space: inp.space, factor: inp.factor });
        } else {
          edits.push({ kind: 'dense-in', layer: l.name, space: inp.space, factor: inp.factor, spatial: inp.spatial });
        }
      }
      const out = shapes.get(l.name);
      const s = spaces.add(l.name, typeof out?.at(-1) === 'number' ? (out.at(-1) as number) : 0);
      if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') {
        block(s, `${l.name} is ${asText(c.data_format)}`);
        if (inp) block(inp.space, `it is read by ${l.name}, which is ${asText(c.data_format)}`);
      }
      if (typeof c.groups === 'number' && c.groups !== 1) {
        block(s, `${l.name} is a grouped convolution (groups ${c.groups})`);
        if (inp) block(inp.space, `it is read by the grouped convolution ${l.name}`);
      }
      if (out?.at(-1) === null || out === undefined) block(s, `the output shape of ${l.name} cannot be inferred`);
      layouts.set(l.name, { space: s, factor: 1, spatial: 0 });
      continue;
    }
    if (tracked.length === 0) continue; // reads the model input or untracked tensors only
    if (rule === 'depthwise' && inp && inp.spatial === 0) {
      const m = (c.depth_multiplier as number | undefined) ?? 1;
      edits.push({
        kind: 'depthwise',
        layer: l.name,
        space: inp.space,
        factor: inp.factor,
        multiplier: m,
        bias: c.use_bias !== false,
      });
      layouts.set(l.name, { space: inp.space, factor: inp.factor * m, spatial: 0 });
      continue;
    }
    if (rule === 'per-channel' && inp && inp.spatial === 0) {
      const rank = shapes.get(l.name)?.length;
      let axis: number | undefined;
      try {
        axis = rank === undefined ? undefined : batchNormAxis(l.name, c, rank);
      } catch {
        axis = undefined;
      }
      if (rank === undefined || axis !== rank - 1) {
        blockAll(`it is read by ${l.name} (${cls}), which normalises axis ${JSON.stringify(c.axis)}, not the channels`);
        continue;
      }
      edits.push({ kind: 'bn', layer: l.name, space: inp.space, factor: inp.factor });
      layouts.set(l.name, inp);
      continue;
    }
    if ((rule === 'keep' || rule === 'keep-flat') && inp) {
      if (cls === 'Activation' && c.activation === 'softmax') {
        blockAll(`it is read by ${l.name}, a softmax over the channels`);
        continue;
      }
      if (inp.spatial > 0 && rule !== 'keep-flat') {
        blockAll(`it is read by ${l.name} (${cls}) after a Flatten`);
        continue;
      }
      layouts.set(l.name, inp);
      continue;
    }
    if (rule === 'flatten' && inp) {
      const inner = shapes.get(l.inbound[0]!)?.slice(1, -1);
      if (inp.spatial > 0) layouts.set(l.name, inp);
      else if (inner === undefined || inner.some((d) => d === null))
        blockAll(`it is read by ${l.name} (Flatten) of an input of open shape`);
      else layouts.set(l.name, { ...inp, spatial: (inner as number[]).reduce((a, b) => a * b, 1) });
      continue;
    }
    if (rule === 'merge') {
      const inShapes = l.inbound.map((n) => shapes.get(n));
      const first = inShapes[0];
      const same =
        ins.every((x) => x !== undefined && x.factor === inp!.factor && x.spatial === 0) &&
        first !== undefined &&
        inShapes.every((s) => s !== undefined && s.length === first.length && s.at(-1) === first.at(-1));
      if (!same || !inp) {
        blockAll(`${l.name} (${cls}) combines it with a tensor whose channels are laid out differently`);
        continue;
      }
      for (const x of tracked) union(inp.space, x.space);
      const r = find(inp.space);
      spaces.merged(r, l.name);
      layouts.set(l.name, { ...inp, space: r });
      continue;
    }
    const why =
      rule === 'separable'
        ? `it is read by ${l.name} (${cls}), which prune-channels does not rewire`
        : rule === 'mix'
          ? `it is read by ${l.name} (${cls}), which mixes or scales channels by position`
          : `it is read by ${l.name} (${cls}), which prune-channels cannot rewire`;
    blockAll(why);
  }
  for (const o of topology.outputs()) {
    const t = layouts.get(o);
    if (t)
      block(
        t.space,
        channelRule(topology.className(o)) === 'root'
          ? `${o} is the model's output layer`
          : `it reaches the model's output ${o}`,
      );
  }

  const groups = spaces.groups('layers');
  return { groups, edits, find, layouts };
}

/** What a layer of this class does to the channels it reads (the catalogue's; undefined: prune-channels cannot follow them). */
export function channelRule(className: string): ChannelRule | undefined {
  return layerClass(className)?.channels;
}
