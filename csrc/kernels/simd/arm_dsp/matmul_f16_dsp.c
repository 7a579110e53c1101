/* ARM DSP path of odl_matmul_f16 (all three layouts): fp16 storage, converted on load (VCVTB, FPv4/FPv5 half-
 * precision extension), fp32 accumulation in 4 x 4 register blocks and one rounding to fp16 per output, the
 * reference's semantics (fp_block.h). */
#include "odl/matmul.h"

#ifdef ODL_WITH_ARM_DSP
#include "fp_block.h"

ODL_DEFINE_FP_MATMUL(odl_matmul_f16_dsp, odl_f16)
#endif /* ODL_WITH_ARM_DSP */
