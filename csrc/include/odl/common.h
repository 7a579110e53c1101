/* odl/common.h - types and status codes shared by every odl kernel.
 *
 * Every public header in csrc/include/odl/ is also read by the host builder (toolkit.host) as a cffi cdef:
 * it is preprocessed with -DODL_CDEF -nostdinc, so system headers and inline code must sit behind
 * `#ifndef ODL_CDEF`.
 */
#ifndef ODL_COMMON_H
#define ODL_COMMON_H

#ifndef ODL_CDEF
#include <stddef.h>
#include <stdint.h>
#endif

/* Status codes returned by every kernel that can reject its arguments. */
typedef enum {
    ODL_OK = 0,
    ODL_ERR_ARG = -1,       /* a bad argument: null pointer, non-positive size, bad stride/padding */
    ODL_ERR_SHAPE = -2,     /* shapes that do not agree with each other */
    ODL_ERR_SCRATCH = -3,   /* scratch buffer missing or smaller than *_scratch_size() */
    ODL_ERR_UNSUPPORTED = -4 /* a combination this build does not implement */
} odl_status;

/* FP16 storage type. Kernels compute with _Float16 (IEEE binary16); the cffi view is uint16_t, which has the
 * same size and alignment, so numpy float16 arrays pass through unchanged. Scalars are always passed as float. */
#ifdef ODL_CDEF
typedef uint16_t odl_f16;
#else
typedef _Float16 odl_f16;
#endif

/* Padding modes, TFLite's meaning. */
typedef enum { ODL_PAD_VALID = 0, ODL_PAD_SAME = 1 } odl_padding;

/* NHWC activation shape (batch is always 1 on the device; n is kept for completeness). */
typedef struct {
    int32_t n, h, w, c;
} odl_dims;

/* Geometry of a 2-D convolution / pooling window. pad_top/pad_left are the (possibly asymmetric) leading
 * paddings; trailing padding is implied by the output size. Use odl_conv_geometry() to fill it TFLite's way. */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t out_h, out_w;
} odl_window;

/* Fill `win` from the input size, kernel, stride, dilation and padding mode exactly as TFLite computes
 * output size and leading padding. Returns ODL_ERR_ARG for non-positive sizes or an empty output. */
odl_status odl_conv_geometry(int32_t in_h, int32_t in_w, int32_t kernel_h, int32_t kernel_w, int32_t stride_h,
                             int32_t stride_w, int32_t dilation_h, int32_t dilation_w, odl_padding padding,
                             odl_window *win);

/* Library version, e.g. "0.1.0". */
const char *odl_version(void);

#endif /* ODL_COMMON_H */
