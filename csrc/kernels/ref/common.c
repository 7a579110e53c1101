/* Geometry helpers and version. */
#include "odl/common.h"

const char *odl_version(void) { return "0.1.0"; }

odl_status odl_conv_geometry(int32_t in_h, int32_t in_w, int32_t kernel_h, int32_t kernel_w, int32_t stride_h,
                             int32_t stride_w, int32_t dilation_h, int32_t dilation_w, odl_padding padding,
                             odl_window *win) {
    if (!win || in_h <= 0 || in_w <= 0 || kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0 ||
        dilation_h <= 0 || dilation_w <= 0)
        return ODL_ERR_ARG;
    const int32_t eff_h = (kernel_h - 1) * dilation_h + 1;
    const int32_t eff_w = (kernel_w - 1) * dilation_w + 1;
    int32_t out_h, out_w;
    if (padding == ODL_PAD_SAME) {
        out_h = (in_h + stride_h - 1) / stride_h;
        out_w = (in_w + stride_w - 1) / stride_w;
    } else if (padding == ODL_PAD_VALID) {
        out_h = (in_h - eff_h + stride_h) / stride_h;
        out_w = (in_w - eff_w + stride_w) / stride_w;
    } else {
        return ODL_ERR_ARG;
    }
    if (out_h <= 0 || out_w <= 0) return ODL_ERR_ARG;
    /* TFLite ComputePaddingHeightWidth: total = (out-1)*stride + eff - in, leading = total / 2. */
    int32_t total_h = (out_h - 1) * stride_h + eff_h - in_h;
    int32_t total_w = (out_w - 1) * stride_w + eff_w - in_w;
    if (total_h < 0) total_h = 0;
    if (total_w < 0) total_w = 0;
    win->kernel_h = kernel_h;
    win->kernel_w = kernel_w;
    win->stride_h = stride_h;
    win->stride_w = stride_w;
    win->dilation_h = dilation_h;
    win->dilation_w = dilation_w;
    win->pad_top = padding == ODL_PAD_SAME ? total_h / 2 : 0;
    win->pad_left = padding == ODL_PAD_SAME ? total_w / 2 : 0;
    win->out_h = out_h;
    win->out_w = out_w;
    return ODL_OK;
}
