import { mulberry32 } from '../../src/util/random.js';

/**
 * Paired outcomes with the given 2×2 counts: `both` right in both, `b` baseline right / result wrong,
 * `c` baseline wrong / result right, `neither` wrong in both; interleaved so order carries no meaning.
 */
export function outcomes(both: number, b: number, c: number, neither: number): { base: Uint8Array; res: Uint8Array } {
  const n = both + b + c + neither;
  const base = new Uint8Array(n);
  const res = new Uint8Array(n);
  const kinds: number[] = [];
  for (let i = 0; i < both; i++) kinds.push(0);
  for (let i = 0; i < b; i++) kinds.push(1);
  for (let i = 0; i < c; i++) kinds.push(2);
  for (let i = 0; i < neither; i++) kinds.push(3);
  const rnd = mulberry32(99);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  kinds.forEach((k, i) => {
    base[i] = k === 0 || k === 1 ? 1 : 0;
    res[i] = k === 0 || k === 2 ? 1 : 0;
  });
  return { base, res };
}
