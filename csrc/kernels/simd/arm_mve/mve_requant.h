/* Private to the Helium path: TFLite requantization of 4 int32 lanes, bit-exact with odl_requant_s8 (double
 * rounding build):
 *   VSHL (left shift, wrapping like the reference's uint32 shift) -> VQRDMULH (== SaturatingRoundingDoublingHighMul)
 *   -> sign fix-up + VRSHL (== RoundingDivideByPOT, ties away from zero) -> + output offset -> clamp. */
#ifndef ODL_MVE_REQUANT_H
#define ODL_MVE_REQUANT_H
#include <arm_mve.h>

#include "odl/quant.h"

/* mult: Q0.31 multipliers, sh: TFLite shifts (left if > 0, right if < 0). */
static inline int32x4_t odl_mve_requant4(int32x4_t x, int32x4_t mult, int32x4_t sh, const odl_output_s8 *o) {
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t lsh = vmaxq_s32(sh, zero), rsh = vminq_s32(sh, zero); /* rsh = -right_shift */
    x = vshlq_s32(x, lsh);
    x = vqrdmulhq_s32(x, mult);
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, rsh), 31)); /* -1 for x < 0 when shifting right: ties away from 0 */
    x = vrshlq_s32(x, rsh);
    x = vaddq_n_s32(x, o->output_offset);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(o->act_min)), vdupq_n_s32(o->act_max));
}

#endif
