/* Private to the Helium path: TFLite requantization of 4 int32 lanes, bit-exact with odl_requant_s8 (double
 * rounding build):
 *   VSHL (left shift, wrapping like the reference's uint32 shift) -> VQRDMULH (== SaturatingRoundingDoublingHighMul)
 *   -> sign fix-up + VRSHL (== RoundingDivideByPOT, ties away from zero) -> + output offset -> clamp. */
#ifndef ODL_MVE_REQUANT_H
#define ODL_MVE_REQUANT_H
#include <arm_mve.h>

#include "odl/quant.h"

/* The output side, loaded once into registers (a kernel's int8 stores could alias odl_output_s8 otherwise). */
typedef struct {
    int32_t offset;
    int32x4_t lo, hi;
} odl_mve_out;

static inline odl_mve_out odl_mve_out_load(const odl_output_s8 *o) {
    const odl_mve_out r = {o->output_offset, vdupq_n_s32(o->act_min), vdupq_n_s32(o->act_max)};
    return r;
}

/* lsh = max(shift, 0), rsh = min(shift, 0) (= -right shift) of TFLite shifts (left if > 0, right if < 0). */
static inline int32x4_t odl_mve_lsh(int32x4_t sh) { return vmaxq_s32(sh, vdupq_n_s32(0)); }
static inline int32x4_t odl_mve_rsh(int32x4_t sh) { return vminq_s32(sh, vdupq_n_s32(0)); }

/* x: accumulators; mult: Q0.31 multipliers; lsh / rsh from the shifts (above). */
static inline int32x4_t odl_mve_requant4_lr(int32x4_t x, int32x4_t mult, int32x4_t lsh, int32x4_t rsh,
                                            const odl_mve_out *o) {
    x = vshlq_s32(x, lsh);
    x = vqrdmulhq_s32(x, mult);
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, rsh), 31)); /* -1 for x < 0 when shifting right: ties away from 0 */
    x = vrshlq_s32(x, rsh);
    x = vaddq_n_s32(x, o->offset);
    return vminq_s32(vmaxq_s32(x, o->lo), o->hi);
}

/* The same when every lane shifts right by 1..31 and not left (rsh <= -1, the usual case for convolutions): no
 * VSHL, and the fix-up's mask is the sign alone. 2 instructions fewer. */
static inline int32x4_t odl_mve_requant4_r(int32x4_t x, int32x4_t mult, int32x4_t rsh, const odl_mve_out *o) {
    x = vqrdmulhq_s32(x, mult);
    x = vqaddq_s32(x, vshrq_n_s32(x, 31));
    x = vrshlq_s32(x, rsh);
    x = vaddq_n_s32(x, o->offset);
    return vminq_s32(vmaxq_s32(x, o->lo), o->hi);
}

static inline int32x4_t odl_mve_requant4(int32x4_t x, int32x4_t mult, int32x4_t sh, const odl_mve_out *o) {
    return odl_mve_requant4_lr(x, mult, odl_mve_lsh(sh), odl_mve_rsh(sh), o);
}

#endif
