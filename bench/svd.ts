/**
 * The SVD behind the lowrank pass, on 1024×1024 matrices, side by side in one run: time, and the relative
 * reconstruction error ‖W − W_r‖_F / ‖W‖_F at the rank `ratio: 0.25` gives such a layer (r = ⌊0.25·1024²/2048⌋ = 128).
 *   - ml-matrix's full SVD (Golub–Kahan, JAMA): exact, every singular value;
 *   - the Gram route the pass uses (src/algorithms/svd.ts): WᵀW's symmetric eigendecomposition in float64, exact,
 *     every singular value (the energy rule needs them all);
 *   - a randomized SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4: 10 oversamples, 2 power iterations) with
 *     the products on TF.js (wasm) and the QRs and the small SVD in float64 JS: only the top r + 10.
 * Two matrices: a decaying spectrum (σ_j ∝ 1/√j, as trained layers tend to have) and a flat one (a Gaussian
 * matrix, the randomized method's worst case).
 */
import { Matrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';
import type { Tf } from '../src/engine/runtime.js';
import { chooseRank, lowRankFactors, reconstructionError, spectrum, type Factors } from '../src/algorithms/svd.js';

const N = 1024;
const OVERSAMPLE = 10;
const POWER = 2;

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

/** Q of a thin QR of the m×l row-major matrix y (float64 Householder, ml-matrix). */
function orthonormal(y: Float32Array, m: number, l: number): Float32Array {
  const q = new QrDecomposition(Matrix.from1DArray(m, l, y)).orthogonalMatrix;
  return Float32Array.from(q.to1DArray());
}

/** Randomized rank-r factors of W (m×n, a TF.js tensor) with l = r + OVERSAMPLE samples and POWER iterations. */
async function randomizedFactors(tf: Tf, w: ReturnType<Tf['tensor2d']>, r: number): Promise<Factors> {
  const [m, n] = w.shape;
  const l = r + OVERSAMPLE;
  const orth = async (t: ReturnType<Tf['tensor2d']>, rows: number): Promise<ReturnType<Tf['tensor2d']>> => {
    const q = tf.tensor2d(orthonormal((await t.data()) as Float32Array, rows, l), [rows, l]);
    t.dispose();
    return q;
  };
  const omega = tf.randomNormal([n, l], 0, 1, 'float32', 7);
  let q = await orth(tf.matMul(w, omega), m);
  omega.dispose();
  for (let i = 0; i < POWER; i++) {
    const z = await orth(tf.matMul(w, q, true, false), n);
    q.dispose();
    q = await orth(tf.matMul(w, z), m);
    z.dispose();
  }
  // B = QᵀW (l×n) is small: its exact SVD, then A = Q·A_B.
  const bt = tf.matMul(q, w, true, false);
  const b = (await bt.data()) as Float32Array;
  bt.dispose();
  const small = lowRankFactors(b, spectrum(b, l, n), r);
  const ab = tf.tensor2d(small.a, [l, r]);
  const at = tf.matMul(q, ab);
  const a = (await at.data()) as Float32Array;
  tf.dispose([q, ab, at]);
  return { a, b: small.b, r };
}

export async function benchSvd(log: (line: string) => void, tf: Tf): Promise<void> {
  const choice = chooseRank({ ratio: 0.25 }, N, N, 0);
  if (!('paramsAfter' in choice)) throw new Error('ratio 0.25 must give a rank for a 1024×1024 kernel');
  const r = choice.rank;
  log(`\n5. lowrank's SVD on a ${N}×${N} matrix, rank ${r} (ratio 0.25), relative error ‖W − W_r‖/‖W‖`);
  const matrices: [string, () => ReturnType<Tf['tensor2d']>][] = [
    [
      'decaying spectrum',
      () =>
        tf.tidy(() => {
          const scale = tf
            .range(1, N + 1)
            .pow(-0.5)
            .reshape([1, N]);
          return tf
            .matMul(tf.randomNormal([N, N], 0, 1, 'float32', 1).mul(scale), tf.randomNormal([N, N], 0, 1, 'float32', 2))
            .div(N);
        }),
    ],
    ['flat (Gaussian)', () => tf.randomNormal([N, N], 0, 0.05, 'float32', 3)],
  ];
  for (const [name, make] of matrices) {
    const wt = make();
    const w = (await wt.data()) as Float32Array;
    const total = w.reduce((s, x) => s + x * x, 0);
    const rel = (err: number) => Math.sqrt(err / total).toFixed(6);

    let t = performance.now();
    const full = new SingularValueDecomposition(Matrix.from1DArray(N, N, w), { autoTranspose: true });
    const fullSeconds = seconds(t);
    // The best rank-r error (Eckart–Young) from the exact singular values.
    const optimal = full.diagonal.slice(r).reduce((s, x) => s + x * x, 0);

    t = performance.now();
    const s = spectrum(w, N, N);
    const gram = lowRankFactors(w, s, r);
    const gramSeconds = seconds(t);
    const gramError = reconstructionError(w, gram, N, N);

    // One untimed run pays for TF.js's kernel set-up.
    if (name === matrices[0]![0]) await randomizedFactors(tf, wt, r);
    t = performance.now();
    const randomized = await randomizedFactors(tf, wt, r);
    const randomizedSeconds = seconds(t);
    const randomizedError = reconstructionError(w, randomized, N, N);
    wt.dispose();

    const faster = (x: number) => `${(fullSeconds / x).toFixed(1)}x faster`;
    log(`   ${name.padEnd(38)} ${'time'.padStart(8)}   ${'error'.padEnd(8)}   vs the full SVD`);
    log(
      `     ${'ml-matrix full SVD (Golub–Kahan)'.padEnd(36)} ${fullSeconds.toFixed(2).padStart(6)} s   ${rel(optimal)}   (exact: the optimum)`,
    );
    log(
      `     ${'Gram + symmetric eig (lowrank pass)'.padEnd(36)} ${gramSeconds.toFixed(2).padStart(6)} s   ${rel(gramError)}   ${faster(gramSeconds)}, squared error within ${Math.abs(gramError / optimal - 1).toExponential(0)} of it`,
    );
    log(
      `     ${`randomized on TF.js (l=${r + OVERSAMPLE}, q=${POWER})`.padEnd(36)} ${randomizedSeconds.toFixed(2).padStart(6)} s   ${rel(randomizedError)}   ${faster(randomizedSeconds)}, ${((randomizedError / optimal - 1) * 100).toFixed(2)}% more squared error`,
    );
  }
}
