/* RISC-V V path of odl_matmul_f16 (NT / NN / TN): fp16 operands (Zvfh loads, vfwmacc.vf widening FMA), fp32
 * accumulation, one rounding to fp16 per output: bit-exact with odl_matmul_f16_ref (see rvv_matmul_fp_impl.h). */
#ifdef ODL_WITH_RVV
#include "odl/matmul.h"
#include "simd/rvv/rvv_internal.h"

#define RVV_JOIN2(a, b) a##b
#define RVV_JOIN(a, b) RVV_JOIN2(a, b)
#define RVV_SUFFIX f16
#define RVV_NAME odl_matmul_f16_rvv
#define RVV_T odl_f16
#define RVV_VEC vfloat16m2_t
#define RVV_ACC vfloat32m4_t
#define RVV_SETVL(n) __riscv_vsetvl_e16m2(n)
#define RVV_VLE(p, vl) __riscv_vle16_v_f16m2((p), (vl))
#define RVV_VLSE(p, s, vl) __riscv_vlse16_v_f16m2((p), (s), (vl))
#define RVV_ZERO(vl) __riscv_vfwcvt_f_f_v_f32m4(__riscv_vfmv_v_f_f16m2((odl_f16)0.0f, (vl)), (vl))
#define RVV_LOAD_ACC(p, vl) __riscv_vfwcvt_f_f_v_f32m4(__riscv_vle16_v_f16m2((p), (vl)), (vl))
#define RVV_STORE_ACC(p, v, vl) __riscv_vse16_v_f16m2((p), __riscv_vfncvt_f_f_w_f16m2((v), (vl)), (vl))
#define RVV_MACC(acc, s, v, vl) __riscv_vfwmacc_vf_f32m4((acc), (s), (v), (vl))
#include "simd/rvv/rvv_matmul_fp_impl.h"
#endif /* ODL_WITH_RVV */
