/**
 * Encoder of entropy-coded weights (src/runtime/encoded.ts is the decoder, shared with the runtime loader).
 * Lossless: the encoded weight decodes to exactly the float32 values the input weight decodes to (−0 as +0).
 * The coding itself (codebooks, DEFLATE streams, the sparse layout) is src/algorithms/entropy.ts; this file
 * turns a weight into symbols and the streams into a weight's bytes and manifest entry.
 */
import { inflateSync } from 'fflate';
import {
  codebookOf,
  MAX_CODEBOOK,
  smallestLayout,
  streamBytes,
  symbolCount,
  type DeflateLevel,
  type LayoutCounts,
} from '../algorithms/entropy.js';
import { checksum, isPackedDtype, packedLayout, readInt, type PackedQuantization } from '../runtime/decode.js';
import { MAX_GAP, isEncoded, type EntropyEncoding } from '../runtime/encoded.js';
import type { WeightSpec } from '../model/index.js';

export type EntropyResult =
  | { encoded: true; spec: WeightSpec; bytes: Uint8Array; layout: 'dense' | 'sparse'; symbols: number; entries: number }
  | { encoded: false; reason: string };

/**
 * Entropy-codes one weight. `stored` is the weight's current bytes, `values` what they decode to. Returns
 * { encoded: false, reason } when the weight has no small symbol alphabet or encoding would not shrink it.
 */
export function entropyEncode(
  spec: WeightSpec,
  stored: Uint8Array,
  values: Float32Array,
  level: DeflateLevel,
): EntropyResult {
  if (isEncoded(spec)) return { encoded: false, reason: 'already entropy-coded' };
  let header: Uint8Array;
  let symbols: Uint8Array;
  let zero: number | undefined;
  let quantization: Record<string, unknown>;
  let counts: LayoutCounts | undefined;
  if (isPackedDtype(spec.quantization?.dtype)) {
    // Keep the scales; the b-bit integers become the symbols (two's complement bits when signed).
    const q = spec.quantization as unknown as PackedQuantization;
    const l = packedLayout(spec);
    header = stored.subarray(0, l.scaleBytes);
    const ints = stored.subarray(l.scaleBytes);
    symbols = new Uint8Array(l.n);
    for (let i = 0; i < l.n; i++) symbols[i] = readInt(ints, i, l.bits, false);
    // Only a symmetric 0 decodes to 0.0 in every scale group.
    zero = q.symmetric ? 0 : undefined;
    quantization = { ...q };
  } else {
    const book = codebookOf(values, MAX_GAP);
    if (book === undefined)
      return { encoded: false, reason: `more than ${MAX_CODEBOOK} distinct values (cluster or quantize it first)` };
    header = new Uint8Array(book.values.buffer.slice(0));
    symbols = book.symbols;
    zero = book.zero;
    counts = book.counts;
    quantization = { dtype: 'codebook', codebookSize: book.values.length };
  }

  const best = smallestLayout(symbols, zero, level, MAX_GAP, counts);
  const byteLength = header.byteLength + streamBytes(best.streams);
  if (byteLength >= stored.byteLength)
    return { encoded: false, reason: `encoding would not shrink it (${stored.byteLength} → ${byteLength} bytes)` };

  const bytes = new Uint8Array(byteLength);
  bytes.set(header, 0);
  let at = header.byteLength;
  for (const s of best.streams) {
    bytes.set(s, at);
    at += s.byteLength;
  }
  const encoding: EntropyEncoding = {
    method: 'deflate',
    layout: best.layout,
    entries: best.entries,
    ...(best.layout === 'sparse' ? { gapBytes: best.streams[0]!.byteLength } : {}),
    symbolBytes: best.streams.at(-1)!.byteLength,
  };
  const { checksum: _c, ...rest } = quantization;
  const out: WeightSpec = {
    ...spec,
    dtype: 'float32',
    quantization: {
      ...rest,
      encoding,
      checksum: checksum(bytes),
      original_dtype: 'float32',
    } as unknown as NonNullable<WeightSpec['quantization']>,
  };
  // The runtime inflates with fflate what zlib deflated here: inflate every stream with the runtime's own
  // inflate and compare it byte for byte, so a disagreement between the two fails the build, not a user's
  // load. (The symbol → value mapping is the decoder's; tests decode whole weights against their input.
  // Decoding every weight here too halved the pass's speed: 100 MB of fresh float32 per 25M weights.)
  let at2 = header.byteLength;
  best.streams.forEach((stream, k) => {
    const back = inflateSync(bytes.subarray(at2, at2 + stream.byteLength), {
      out: scratch(best.sources[k]!.byteLength + 1),
    });
    at2 += stream.byteLength;
    if (!equalBytes(back, best.sources[k]!))
      throw new Error(`internal error: the DEFLATE stream ${k} of ${spec.name} does not inflate to what was deflated`);
  });
  return {
    encoded: true,
    spec: out,
    bytes,
    layout: best.layout,
    symbols: counts ? counts.symbols.filter((c) => c > 0).length : symbolCount(symbols),
    entries: best.entries,
  };
}

let inflated = new Uint8Array(0);

/**
 * A buffer of `bytes` bytes for inflating into, reused from one stream to the next: without one, fflate grows its
 * output by doubling, and the copies and fresh pages cost more than the inflating. One byte more than the
 * stream should inflate to lets a longer result show (fflate truncates at the buffer's end).
 */
function scratch(bytes: number): Uint8Array {
  if (inflated.byteLength < bytes) inflated = new Uint8Array(bytes);
  return inflated.subarray(0, bytes);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.byteLength === b.byteLength &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}
