/** Readers of Keras layer configs shared by shape inference, the weight tables and the cost formulas. */
import type { Dim } from './dims.js';
import { TopologyError } from './topology-error.js';
import { asText } from '../util/text.js';

/** An int or a list of ints in a Keras config, as a list of `n` ints (kernel_size: 3 → [3, 3]). */
export function tupleOf(v: unknown, n: number, what: string, layer: string): number[] {
  if (typeof v === 'number') return Array.from({ length: n }, () => v);
  if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number')) return v;
  throw new TopologyError(
    `layer ${JSON.stringify(layer)} has ${what} ${JSON.stringify(v)}; expected a number or a list of ${n}.`,
  );
}

/** A window layer's `padding` ('valid' when unset), for windowOutput, which refuses all but same and valid. */
export function paddingOf(config: Readonly<Record<string, unknown>>): string {
  return asText(config.padding ?? 'valid');
}

/** Output size of a window op along one axis (Keras conv_utils.conv_output_length); null stays null. */
export function windowOutput(size: Dim, kernel: number, stride: number, padding: string, dilation = 1): Dim {
  if (size === null) return null;
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'same') return Math.ceil(size / stride);
  if (padding === 'valid') return Math.max(0, Math.ceil((size - effective + 1) / stride));
  throw new TopologyError(`padding ${JSON.stringify(padding)} is not supported (same or valid).`);
}

/** Refuses a channels_first layer: every shape rule and channel axis here is channels_last. */
export function channelsLast(layer: string, cls: string, config: Readonly<Record<string, unknown>>): void {
  const f = config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last')
    throw new TopologyError(
      `layer ${JSON.stringify(layer)} (${cls}) uses data_format ${asText(f)}; mcbuild reads channels_last models only.`,
    );
}

/** The axis a BatchNormalization normalises, as a non-negative index into a shape of rank `rank`. */
export function batchNormAxis(name: string, config: Readonly<Record<string, unknown>>, rank: number): number {
  const a = config.axis ?? -1;
  const axis: unknown = Array.isArray(a) && a.length === 1 ? (a[0] as unknown) : a;
  if (typeof axis !== 'number')
    throw new TopologyError(
      `layer ${JSON.stringify(name)} (BatchNormalization) normalises axes ${JSON.stringify(a)}; mcbuild reads a single axis.`,
    );
  return axis < 0 ? rank + axis : axis;
}
