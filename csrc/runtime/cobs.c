/* Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): removes every 0x00 so it can delimit frames. */
#include "odl/protocol.h"

size_t odl_cobs_max_encoded(size_t n) { return n + n / 254 + 1; }

size_t odl_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    if (!out || (!in && n) || cap < 1) return 0;
    size_t code_pos = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_pos] = code;
            code = 1;
            code_pos = o++;
            if (o > cap) return 0;
        } else {
            if (o >= cap) return 0;
            out[o++] = in[i];
            if (++code == 0xFF) {
                out[code_pos] = code;
                code = 1;
                code_pos = o++;
                if (o > cap) return 0;
            }
        }
    }
    /* A block that ends exactly with 254 data bytes at the end of input leaves a trailing code 0x01, which decodes
     * to nothing: harmless and what the reference encoder emits too. */
    out[code_pos] = code;
    return o;
}

int32_t odl_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    if (!in || !out) return -1;
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        if (code == 0) return -1;
        for (uint8_t k = 1; k < code; k++) {
            if (i >= n || in[i] == 0 || o >= cap) return -1;
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < n) {
            if (o >= cap) return -1;
            out[o++] = 0;
        }
    }
    return (int32_t)o;
}
