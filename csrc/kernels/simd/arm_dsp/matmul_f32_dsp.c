/* ARM DSP path of odl_matmul_f32 (all three layouts) for cores with the single-precision FPU (FPv4-SP / FPv5):
 * 4 x 4 register blocks of fused multiply-adds (fp_block.h). */
#include "odl/matmul.h"

#ifdef ODL_WITH_ARM_DSP
#include "fp_block.h"

ODL_DEFINE_FP_MATMUL(odl_matmul_f32_dsp, float)
#endif /* ODL_WITH_ARM_DSP */
