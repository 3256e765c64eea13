/**
 * Output-shape inference for the layers of a Keras topology, as Keras computes them (channels_last only):
 * what FLOPs counting, the weight checks and the structural passes read. A class the catalogue does not give
 * a shape rule is "unknown": its shape, and everything after it, cannot be inferred.
 */
import type { Dim, Shape } from './dims.js';
import { declaredInputShape } from './keras-json.js';
import { channelsLast, paddingOf, tupleOf, windowOutput } from './keras-config.js';
import { layerClass } from './layer-classes.js';
import { TopologyError } from './topology-error.js';

export type { Dim, Shape } from './dims.js';

/** What shape inference reads of a topology (the Topology class gives it). */
export interface ShapeSource {
  names(): string[];
  has(name: string): boolean;
  className(name: string): string;
  config(name: string): Readonly<Record<string, unknown>>;
  inbound(name: string): string[];
  modelInputShape(): Shape;
}

/** Every layer's output shape, or the TopologyError saying why it cannot be inferred (its own or upstream). */
export function inferShapes(t: ShapeSource): Map<string, Shape | Error> {
  const out = new Map<string, Shape | Error>();
  const visiting = new Set<string>();
  const compute = (name: string): Shape | Error => {
    const known = out.get(name);
    if (known) return known;
    if (visiting.has(name))
      return new TopologyError(`layer ${JSON.stringify(name)} is part of a cycle in model.json's topology.`);
    visiting.add(name);
    let result: Shape | Error;
    const cls = t.className(name);
    const config = t.config(name);
    const inbound = t.inbound(name);
    let inputs: Shape[] | Error;
    if (inbound.length === 0) {
      const declared =
        cls === 'InputLayer' ? undefined : (declaredInputShape(config) ?? safe(() => t.modelInputShape()));
      inputs = declared instanceof Error ? declared : declared ? [declared] : [];
    } else {
      const ins = inbound.map((n) =>
        t.has(n)
          ? compute(n)
          : new TopologyError(`layer ${JSON.stringify(name)} reads ${JSON.stringify(n)}, which is not in the model.`),
      );
      const bad = ins.find((s): s is Error => s instanceof Error);
      inputs = bad ?? (ins as Shape[]);
    }
    if (inputs instanceof Error) result = inputs;
    else result = safe(() => layerOutputShape(name, cls, config, inputs));
    visiting.delete(name);
    out.set(name, result);
    return result;
  };
  for (const name of t.names()) compute(name);
  return out;
}

function safe<T>(f: () => T): T | Error {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error) return e;
    throw e;
  }
}

/** Keras's output shape of one layer from its input shapes. Exported for the tests and for passes that plan a new layer. */
export function layerOutputShape(
  name: string,
  cls: string,
  config: Readonly<Record<string, unknown>>,
  inputs: readonly Shape[],
): Shape {
  const one = (): Shape => {
    if (inputs.length !== 1)
      throw new TopologyError(`layer ${JSON.stringify(name)} (${cls}) has ${inputs.length} inputs; it takes one.`);
    return inputs[0]!;
  };
  const rank = (s: Shape, r: number): Shape => {
    if (s.length !== r)
      throw new TopologyError(
        `layer ${JSON.stringify(name)} (${cls}) gets an input of shape [${s.join(', ')}]; it takes rank ${r}.`,
      );
    return s;
  };
  switch (cls) {
    case 'InputLayer': {
      const s = declaredInputShape(config);
      if (!s) throw new TopologyError(`input layer ${JSON.stringify(name)} declares no batch_input_shape.`);
      return s;
    }
    case 'Dense': {
      const s = one();
      return [...s.slice(0, -1), config.units as number];
    }
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const k = tupleOf(config.kernel_size, 2, 'kernel_size', name);
      const st = tupleOf(config.strides ?? 1, 2, 'strides', name);
      const d = tupleOf(config.dilation_rate ?? 1, 2, 'dilation_rate', name);
      const padding = paddingOf(config);
      const out =
        cls === 'DepthwiseConv2D'
          ? c === null
            ? null
            : c! * ((config.depth_multiplier as number | undefined) ?? 1)
          : (config.filters as number);
      return [n!, windowOutput(h!, k[0]!, st[0]!, padding, d[0]), windowOutput(w!, k[1]!, st[1]!, padding, d[1]), out];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const p = tupleOf(config.pool_size ?? 2, 2, 'pool_size', name);
      const st = tupleOf(config.strides ?? p, 2, 'strides', name);
      const padding = paddingOf(config);
      return [n!, windowOutput(h!, p[0]!, st[0]!, padding), windowOutput(w!, p[1]!, st[1]!, padding), c!];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      channelsLast(name, cls, config);
      const [n, , , c] = rank(one(), 4);
      return config.keepdims === true ? [n!, 1, 1, c!] : [n!, c!];
    }
    case 'Flatten': {
      const [n, ...rest] = one();
      return [n!, rest.some((d) => d === null) ? null : rest.reduce<number>((a, b) => a * b!, 1)];
    }
    case 'Reshape': {
      const [n, ...rest] = one();
      const target = config.target_shape;
      if (!Array.isArray(target))
        throw new TopologyError(`layer ${JSON.stringify(name)} (Reshape) has no target_shape.`);
      const t = target.map(Number);
      const unknown = t.indexOf(-1);
      if (unknown >= 0) {
        const total = rest.some((d) => d === null) ? null : rest.reduce<number>((a, b) => a * b!, 1);
        const known = t.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        return [n!, ...t.map((d) => (d === -1 ? (total === null ? null : total / known) : d))];
      }
      return [n!, ...t];
    }
    case 'ZeroPadding2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const p = config.padding ?? 1;
      const pads: [number, number][] =
        typeof p === 'number'
          ? [
              [p, p],
              [p, p],
            ]
          : Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number')
            ? [
                [p[0] as number, p[0] as number],
                [p[1] as number, p[1] as number],
              ]
            : Array.isArray(p) && p.length === 2 && p.every((x) => Array.isArray(x) && x.length === 2)
              ? (p as [number, number][])
              : (() => {
                  throw new TopologyError(
                    `layer ${JSON.stringify(name)} (ZeroPadding2D) has padding ${JSON.stringify(p)}.`,
                  );
                })();
      const add = (d: Dim, [a, b]: [number, number]) => (d === null ? null : d + a + b);
      return [n!, add(h!, pads[0]!), add(w!, pads[1]!), c!];
    }
    case 'Concatenate': {
      if (inputs.length < 2)
        throw new TopologyError(`layer ${JSON.stringify(name)} (Concatenate) needs at least two inputs.`);
      const r = inputs[0]!.length;
      const axis =
        ((config.axis as number | undefined) ?? -1) < 0
          ? r + ((config.axis as number | undefined) ?? -1)
          : (config.axis as number);
      const out = [...inputs[0]!];
      out[axis] = inputs.some((s) => s[axis] === null) ? null : inputs.reduce((a, s) => a + s[axis]!, 0);
      return out;
    }
    default:
      if (layerClass(cls)?.shape === 'same') return [...one()];
      if (layerClass(cls)?.shape === 'broadcast') return broadcast(name, cls, inputs);
      throw new TopologyError(
        `cannot infer the output shape of layer ${JSON.stringify(name)}: mcbuild does not know layer class ${cls}.`,
      );
  }
}

function broadcast(name: string, cls: string, inputs: readonly Shape[]): Shape {
  if (inputs.length < 1) throw new TopologyError(`layer ${JSON.stringify(name)} (${cls}) has no inputs.`);
  const r = Math.max(...inputs.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < r; k++) {
    let d: Dim = 1;
    for (const s of inputs) {
      const x = s[s.length - r + k];
      if (x === undefined || x === 1) continue;
      if (x === null) d = d === 1 ? null : d;
      else if (d === 1 || d === null) d = x;
      else if (d !== x)
        throw new TopologyError(
          `layer ${JSON.stringify(name)} (${cls}) gets inputs of shapes ${inputs.map((s) => `[${s.join(', ')}]`).join(' and ')}, which do not broadcast.`,
        );
    }
    out.push(d);
  }
  return out;
}
