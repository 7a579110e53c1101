/* RISC-V V path of odl_matmul_f32 (NT / NN / TN): vfmacc.vf on 4 rows x 16 fp32 lanes, the reference's
 * accumulation order per output element, fused multiply-add (see rvv_matmul_fp_impl.h). */
#ifdef ODL_WITH_RVV
#include "odl/matmul.h"
#include "simd/rvv/rvv_internal.h"

#define RVV_JOIN2(a, b) a##b
#define RVV_JOIN(a, b) RVV_JOIN2(a, b)
#define RVV_SUFFIX f32
#define RVV_NAME odl_matmul_f32_rvv
#define RVV_T float
#define RVV_VEC vfloat32m4_t
#define RVV_ACC vfloat32m4_t
#define RVV_SETVL(n) __riscv_vsetvl_e32m4(n)
#define RVV_VLE(p, vl) __riscv_vle32_v_f32m4((p), (vl))
#define RVV_VLSE(p, s, vl) __riscv_vlse32_v_f32m4((p), (s), (vl))
#define RVV_ZERO(vl) __riscv_vfmv_v_f_f32m4(0.0f, (vl))
#define RVV_LOAD_ACC(p, vl) __riscv_vle32_v_f32m4((p), (vl))
#define RVV_STORE_ACC(p, v, vl) __riscv_vse32_v_f32m4((p), (v), (vl))
#define RVV_MACC(acc, s, v, vl) __riscv_vfmacc_vf_f32m4((acc), (s), (v), (vl))
#include "simd/rvv/rvv_matmul_fp_impl.h"
#endif /* ODL_WITH_RVV */
