/* odl_bytebuf: a write callback that appends to a caller-owned buffer (the host tests' transport). */
#include <string.h>

#include "odl/protocol.h"

void odl_bytebuf_write(void *ctx, const uint8_t *bytes, uint32_t n) {
    odl_bytebuf *b = (odl_bytebuf *)ctx;
    if (!b || !bytes) return;
    uint32_t room = b->cap - b->len;
    uint32_t k = n < room ? n : room;
    memcpy(b->data + b->len, bytes, k);
    b->len += k;
    b->overflow += n - k;
}
