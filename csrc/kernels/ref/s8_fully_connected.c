/* odl_fully_connected_s8_forward: TFLite int8 FullyConnected (per-tensor or per-channel) as one matmul. */
#include "odl/matmul.h"
#include "s8_internal.h"

odl_status odl_fully_connected_s8_forward(const int8_t *input, const int8_t *filter, const int32_t *bias,
                                          int32_t batch, int32_t n, int32_t k, int32_t input_offset,
                                          const odl_requant *q, const odl_output_s8 *o, int8_t *output) {
    if (!input || !filter || !output || batch <= 0 || n <= 0 || k <= 0 || !odl_s8_requant_ok(q) ||
        !odl_s8_output_ok(o) || input_offset < -127 || input_offset > 128)
        return ODL_ERR_ARG;
    return odl_matmul_s8(input, filter, bias, batch, n, k, input_offset, q, o, output);
}
