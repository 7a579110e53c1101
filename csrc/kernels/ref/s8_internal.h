/* Private helpers shared by the int8 kernels in csrc/kernels/ref/s8_*.c (not part of the public API). */
#ifndef ODL_S8_INTERNAL_H
#define ODL_S8_INTERNAL_H

#include "internal/odl_math.h"
#include "odl/kernels_s8.h"

static inline int odl_s8_dims_ok(const odl_dims *d) {
    return d && d->n > 0 && d->h > 0 && d->w > 0 && d->c > 0;
}

static inline int odl_s8_clamp_ok(int32_t lo, int32_t hi) { return lo >= -128 && hi <= 127 && lo <= hi; }

static inline int odl_s8_output_ok(const odl_output_s8 *o) {
    return o && odl_s8_clamp_ok(o->act_min, o->act_max) && o->output_offset >= -128 && o->output_offset <= 127;
}

static inline int odl_s8_requant_ok(const odl_requant *q) { return q && q->multiplier && q->shift; }

/* Geometry of a conv-like window over in_dims; ODL_ERR_ARG for bad strides/dilations/padding. */
/* Argument checks and output window shared by the int8 pools (TFLite geometry, no dilation). */
static inline odl_status odl_s8_pool_window(const int8_t *input, const odl_dims *in_dims, const odl_pool_s8_params *p,
                                            const odl_dims *out_dims, const int8_t *output, odl_window *win) {
    if (!input || !output || !p || !odl_s8_dims_ok(in_dims) || !odl_s8_dims_ok(out_dims) ||
        !odl_s8_clamp_ok(p->act_min, p->act_max))
        return ODL_ERR_ARG;
    odl_status st = odl_conv_geometry(in_dims->h, in_dims->w, p->pool_h, p->pool_w, p->stride_h, p->stride_w, 1, 1,
                                      p->padding, win);
    if (st != ODL_OK) return st;
    if (out_dims->n != in_dims->n || out_dims->h != win->out_h || out_dims->w != win->out_w ||
        out_dims->c != in_dims->c)
        return ODL_ERR_SHAPE;
    return ODL_OK;
}

static inline odl_status odl_s8_window(const odl_dims *in, int32_t kh, int32_t kw, const odl_conv_s8_params *p,
                                       odl_window *win) {
    if (!p) return ODL_ERR_ARG;
    return odl_conv_geometry(in->h, in->w, kh, kw, p->stride_h, p->stride_w, p->dilation_h, p->dilation_w,
                             p->padding, win);
}

#endif
