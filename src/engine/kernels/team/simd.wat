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
        (br $rows_loop)))))
