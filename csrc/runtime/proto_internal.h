/* Shared between the runtime's protocol files; not public. */
#ifndef ODL_PROTO_INTERNAL_H
#define ODL_PROTO_INTERNAL_H

#include <string.h>

#include "odl/protocol.h"

static inline uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static inline uint32_t rd32(const uint8_t *b) {
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static inline void wr16(uint8_t *b, uint16_t v) {
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void wr32(uint8_t *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static inline void wr64(uint8_t *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* A message handler: request payload in, response payload out (also for errors, e.g. the expected offset).
 * Returns the ODL_PERR_* status of the response. */
uint8_t odl__tensor_info(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len);
uint8_t odl__write_begin(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len);
uint8_t odl__write_chunk(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len);
uint8_t odl__write_commit(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len);
uint8_t odl__read_chunk(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len);
/* Drop the transfer in progress, if any (the tensor keeps its contents). */
void odl__abort_transfer(odl_device *dev);

#endif
