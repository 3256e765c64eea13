;; mcbuild's wasm SIMD loops, run by the kernel team (./team.ts) on the wasm backend's own heap. `npm run generate`
;; assembles this file (scripts/simd.ts, with wabt) into ./simd-binary.ts, once importing a shared memory and once
;; an unshared one; test/generated.test.ts fails when the two disagree.
;; Each loop computes every value exactly as the wasm backend's kernel it replaces does, so replacing it changes
;; no result; a caller splits the work into parts by rows, which computes each value the same way at any split.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; Inference batch norm as tfjs-backend-wasm 4.22's FusedBatchNorm computes it, over rows × cols:
  ;; out[r, c] = f32(f64(f32(f32(x[r, c] - mean[c]) * scale[c])) / norm[c] + offset[c]).
  ;; mean and scale: float32 [cols]; norm and offset: float64 [cols]. Addresses in bytes. Four channels at a time:
  ;; float32x4 subtract and multiply, then two float64x2 divisions and additions, demoted and stored together.
  (func (export "batchNormInference")
    (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (param $mean i32) (param $scale i32) (param $norm i32) (param $offset i32)
    (local $r i32) (local $c i32) (local $wide i32) (local $t v128) (local $i i32) (local $lo v128) (local $hi v128)
    (local.set $wide (i32.and (local.get $cols) (i32.const -4)))
    (block $done
      (loop $rows_loop
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $wide_done
          (loop $wide_loop
            (br_if $wide_done (i32.ge_u (local.get $c) (local.get $wide)))
            (local.set $i (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))
            (local.set $t
              (f32x4.mul
                (f32x4.sub
                  (v128.load (i32.add (local.get $x) (local.get $i)))
                  (v128.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))))
                (v128.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2))))))
            (local.set $lo
              (f64x2.add
                (f64x2.div
                  (f64x2.promote_low_f32x4 (local.get $t))
                  (v128.load (i32.add (local.get $norm) (i32.shl (local.get $c) (i32.const 3)))))
                (v128.load (i32.add (local.get $offset) (i32.shl (local.get $c) (i32.const 3))))))
            (local.set $hi
              (f64x2.add
                (f64x2.div
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $t) (local.get $t)))
                  (v128.load offset=16 (i32.add (local.get $norm) (i32.shl (local.get $c) (i32.const 3)))))
                (v128.load offset=16 (i32.add (local.get $offset) (i32.shl (local.get $c) (i32.const 3))))))
            (v128.store (i32.add (local.get $out) (local.get $i))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $lo))
                (f32x4.demote_f64x2_zero (local.get $hi))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $wide_loop)))
        (block $tail_done
          (loop $tail_loop
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $i (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))
            (f32.store (i32.add (local.get $out) (local.get $i))
              (f32.demote_f64
                (f64.add
                  (f64.div
                    (f64.promote_f32
                      (f32.mul
                        (f32.sub
                          (f32.load (i32.add (local.get $x) (local.get $i)))
                          (f32.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))))
                        (f32.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2))))))
                    (f64.load (i32.add (local.get $norm) (i32.shl (local.get $c) (i32.const 3)))))
                  (f64.load (i32.add (local.get $offset) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Per-column sums over rows × cols of float32 src and other, shifted by float64 per-column values:
  ;; sumA[c] += Σ (src − shiftA[c]), sumB[c] += Σ (other − shiftB[c]), sumAB[c] += Σ (src − shiftA[c])·(other − shiftB[c]),
  ;; in float64, each column summed over blocks of 64 rows and each block's sum then added to the total: the order
  ;; of columnSums in ../batchnorm-train.ts. Two columns at a time (float64x2).
  (func (export "columnSums")
    (param $src i32) (param $other i32) (param $shiftA i32) (param $shiftB i32)
    (param $sumA i32) (param $sumB i32) (param $sumAB i32) (param $rows i32) (param $cols i32)
    (local $r0 i32) (local $end i32) (local $c i32) (local $o i32) (local $stride i32) (local $last i32)
    (local $sa v128) (local $sb v128) (local $s v128) (local $t v128) (local $p v128) (local $d v128) (local $e v128)
    (local.set $stride (i32.shl (local.get $cols) (i32.const 2)))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $r0) (local.get $rows)))
        (local.set $end (i32.add (local.get $r0) (i32.const 64)))
        (if (i32.gt_u (local.get $end) (local.get $rows)) (then (local.set $end (local.get $rows))))
        ;; end: the byte offset of the block's last row + 1, column 0
        (local.set $last (i32.mul (local.get $end) (local.get $stride)))
        (local.set $c (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.gt_u (i32.add (local.get $c) (i32.const 2)) (local.get $cols)))
            (local.set $sa (v128.load (i32.add (local.get $shiftA) (i32.shl (local.get $c) (i32.const 3)))))
            (local.set $sb (v128.load (i32.add (local.get $shiftB) (i32.shl (local.get $c) (i32.const 3)))))
            (local.set $s (v128.const i64x2 0 0))
            (local.set $t (v128.const i64x2 0 0))
            (local.set $p (v128.const i64x2 0 0))
            (local.set $o (i32.add (i32.mul (local.get $r0) (local.get $stride)) (i32.shl (local.get $c) (i32.const 2))))
            (block $rows_done
              (loop $rows_loop
                (br_if $rows_done (i32.ge_u (local.get $o) (local.get $last)))
                (local.set $d (f64x2.sub
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $src) (local.get $o))))
                  (local.get $sa)))
                (local.set $e (f64x2.sub
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $other) (local.get $o))))
                  (local.get $sb)))
                (local.set $s (f64x2.add (local.get $s) (local.get $d)))
                (local.set $t (f64x2.add (local.get $t) (local.get $e)))
                (local.set $p (f64x2.add (local.get $p) (f64x2.mul (local.get $d) (local.get $e))))
                (local.set $o (i32.add (local.get $o) (local.get $stride)))
                (br $rows_loop)))
            (call $add2 (i32.add (local.get $sumA) (i32.shl (local.get $c) (i32.const 3))) (local.get $s))
            (call $add2 (i32.add (local.get $sumB) (i32.shl (local.get $c) (i32.const 3))) (local.get $t))
            (call $add2 (i32.add (local.get $sumAB) (i32.shl (local.get $c) (i32.const 3))) (local.get $p))
            (local.set $c (i32.add (local.get $c) (i32.const 2)))
            (br $pairs)))
        ;; An odd last column: the same sums one value at a time, in lane 0.
        (if (i32.lt_u (local.get $c) (local.get $cols))
          (then
            (local.set $sa (v128.load64_zero (i32.add (local.get $shiftA) (i32.shl (local.get $c) (i32.const 3)))))
            (local.set $sb (v128.load64_zero (i32.add (local.get $shiftB) (i32.shl (local.get $c) (i32.const 3)))))
            (local.set $s (v128.const i64x2 0 0))
            (local.set $t (v128.const i64x2 0 0))
            (local.set $p (v128.const i64x2 0 0))
            (local.set $o (i32.add (i32.mul (local.get $r0) (local.get $stride)) (i32.shl (local.get $c) (i32.const 2))))
            (block $rows_done1
              (loop $rows_loop1
                (br_if $rows_done1 (i32.ge_u (local.get $o) (local.get $last)))
                (local.set $d (f64x2.sub
                  (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $src) (local.get $o))))
                  (local.get $sa)))
                (local.set $e (f64x2.sub
                  (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $other) (local.get $o))))
                  (local.get $sb)))
                (local.set $s (f64x2.add (local.get $s) (local.get $d)))
                (local.set $t (f64x2.add (local.get $t) (local.get $e)))
                (local.set $p (f64x2.add (local.get $p) (f64x2.mul (local.get $d) (local.get $e))))
                (local.set $o (i32.add (local.get $o) (local.get $stride)))
                (br $rows_loop1)))
            (call $add1 (i32.add (local.get $sumA) (i32.shl (local.get $c) (i32.const 3))) (local.get $s))
            (call $add1 (i32.add (local.get $sumB) (i32.shl (local.get $c) (i32.const 3))) (local.get $t))
            (call $add1 (i32.add (local.get $sumAB) (i32.shl (local.get $c) (i32.const 3))) (local.get $p))))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 64)))
        (br $blocks))))

  ;; *at += v (two float64s; one, lane 0)
  (func $add2 (param $at i32) (param $v v128)
    (v128.store (local.get $at) (f64x2.add (v128.load (local.get $at)) (local.get $v))))
  (func $add1 (param $at i32) (param $v v128)
    (f64.store (local.get $at) (f64.add (f64.load (local.get $at)) (f64x2.extract_lane 0 (local.get $v)))))

  ;; y[r, c] = f32(f64(x[r, c])·scale[c] + shift[c]) over rows × cols; scale and shift float64 [cols]: training batch
  ;; norm's output. Two values at a time.
  (func (export "scaleShiftRows")
    (param $x i32) (param $scale i32) (param $shift i32) (param $y i32) (param $rows i32) (param $cols i32)
    (local $o i32) (local $end i32) (local $c i32) (local $row i32)
    (local.set $end (i32.shl (i32.mul (local.get $rows) (local.get $cols)) (i32.const 2)))
    (block $done
      (loop $rows_loop
        (br_if $done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $c (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.gt_u (i32.add (local.get $c) (i32.const 2)) (local.get $cols)))
            (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
            (v128.store64_lane 0 (i32.add (local.get $y) (local.get $o))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.mul
                    (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $o))))
                    (v128.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 3)))))
                  (v128.load (i32.add (local.get $shift) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 2)))
            (br $pairs)))
        (if (i32.lt_u (local.get $c) (local.get $cols))
          (then
            (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
            (f32.store (i32.add (local.get $y) (local.get $o))
              (f32.demote_f64
                (f64.add
                  (f64.mul
                    (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o))))
                    (f64.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 3)))))
                  (f64.load (i32.add (local.get $shift) (i32.shl (local.get $c) (i32.const 3)))))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $cols) (i32.const 2))))
        (br $rows_loop))))

  ;; dx[r, c] = f32(a[c]·dy + b[c]·(x − centre[c]) + k[c]) in float64 over rows × cols (training batch norm's
  ;; input gradient); a, b, k and centre float64 [cols]. Two values at a time.
  (func (export "batchNormInputGrad")
    (param $dy i32) (param $x i32) (param $a i32) (param $b i32) (param $k i32) (param $centre i32) (param $dx i32)
    (param $rows i32) (param $cols i32)
    (local $o i32) (local $end i32) (local $c i32) (local $row i32) (local $q i32)
    (local.set $end (i32.shl (i32.mul (local.get $rows) (local.get $cols)) (i32.const 2)))
    (block $done
      (loop $rows_loop
        (br_if $done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $c (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.gt_u (i32.add (local.get $c) (i32.const 2)) (local.get $cols)))
            (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $q (i32.shl (local.get $c) (i32.const 3)))
            (v128.store64_lane 0 (i32.add (local.get $dx) (local.get $o))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add
                    (f64x2.mul
                      (v128.load (i32.add (local.get $a) (local.get $q)))
                      (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $dy) (local.get $o)))))
                    (f64x2.mul
                      (v128.load (i32.add (local.get $b) (local.get $q)))
                      (f64x2.sub
                        (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $o))))
                        (v128.load (i32.add (local.get $centre) (local.get $q))))))
                  (v128.load (i32.add (local.get $k) (local.get $q))))))
            (local.set $c (i32.add (local.get $c) (i32.const 2)))
            (br $pairs)))
        (if (i32.lt_u (local.get $c) (local.get $cols))
          (then
            (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $q (i32.shl (local.get $c) (i32.const 3)))
            (f32.store (i32.add (local.get $dx) (local.get $o))
              (f32.demote_f64
                (f64.add
                  (f64.add
                    (f64.mul
                      (f64.load (i32.add (local.get $a) (local.get $q)))
                      (f64.promote_f32 (f32.load (i32.add (local.get $dy) (local.get $o)))))
                    (f64.mul
                      (f64.load (i32.add (local.get $b) (local.get $q)))
                      (f64.sub
                        (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o))))
                        (f64.load (i32.add (local.get $centre) (local.get $q))))))
                  (f64.load (i32.add (local.get $k) (local.get $q))))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $cols) (i32.const 2))))
        (br $rows_loop))))

  ;; The gradient of ReLU with a maximum as TF.js's Relu and ClipByValue gradients chained (../relu6-layer.ts):
  ;; dx = dy·step(x) (step 1 for x > 0, NaN for NaN, else 0), then +0 wherever x > high. count: elements.
  (func (export "reluMaxGrad") (param $dy i32) (param $x i32) (param $dx i32) (param $count i32) (param $high f32)
    (local $i i32) (local $wide i32) (local $end i32) (local $top v128)
    (local.set $top (f32x4.splat (local.get $high)))
    (local.set $wide (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (block $wide_done
      (loop $wide_loop
        (br_if $wide_done (i32.ge_u (local.get $i) (local.get $wide)))
        (v128.store (i32.add (local.get $dx) (local.get $i))
          (call $reluMaxGrad4 (v128.load (i32.add (local.get $dy) (local.get $i)))
            (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $top)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $wide_loop)))
    (block $tail_done
      (loop $tail_loop
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (v128.store32_lane 0 (i32.add (local.get $dx) (local.get $i))
          (call $reluMaxGrad4 (v128.load32_zero (i32.add (local.get $dy) (local.get $i)))
            (v128.load32_zero (i32.add (local.get $x) (local.get $i))) (local.get $top)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail_loop))))

  (func $reluMaxGrad4 (param $dy v128) (param $x v128) (param $top v128) (result v128)
    (v128.andnot
      (f32x4.mul (local.get $dy)
        (v128.bitselect
          (v128.const f32x4 nan nan nan nan)
          (v128.and (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1))
          (f32x4.ne (local.get $x) (local.get $x))))
      (f32x4.gt (local.get $x) (local.get $top))))
)
