/* Frame codec: header | payload | CRC-32, COBS-encoded and 0x00-terminated; a byte-at-a-time parser. */
#include <string.h>

#include "odl/protocol.h"

/* Streaming COBS encoder: bytes are pushed one at a time, so a frame is encoded without a contiguous raw copy. */
typedef struct {
    uint8_t *out;
    size_t cap, o, code_pos;
    uint8_t code;
    uint8_t fail;
} cobs_stream;

static void cs_init(cobs_stream *s, uint8_t *out, size_t cap) {
    s->out = out;
    s->cap = cap;
    s->code_pos = 0;
    s->o = 1;
    s->code = 1;
    s->fail = cap < 2;
}

static void cs_push(cobs_stream *s, uint8_t b) {
    if (s->fail) return;
    if (b == 0) {
        s->out[s->code_pos] = s->code;
        s->code = 1;
        s->code_pos = s->o++;
        if (s->o > s->cap) s->fail = 1;
        return;
    }
    if (s->o >= s->cap) {
        s->fail = 1;
        return;
    }
    s->out[s->o++] = b;
    if (++s->code == 0xFF) {
        s->out[s->code_pos] = s->code;
        s->code = 1;
        s->code_pos = s->o++;
        if (s->o > s->cap) s->fail = 1;
    }
}

static size_t cs_finish(cobs_stream *s) {
    if (s->fail) return 0;
    s->out[s->code_pos] = s->code;
    if (s->o >= s->cap) return 0;
    s->out[s->o++] = 0; /* delimiter */
    return s->o;
}

static void put_header(uint8_t *h, const odl_frame_header *hd, uint16_t length) {
    h[0] = hd->version;
    h[1] = hd->type;
    h[2] = hd->flags;
    h[3] = hd->status;
    h[4] = (uint8_t)(hd->seq & 0xFF);
    h[5] = (uint8_t)(hd->seq >> 8);
    h[6] = (uint8_t)(length & 0xFF);
    h[7] = (uint8_t)(length >> 8);
}

size_t odl_frame_encode(const odl_frame_header *h, const uint8_t *payload, size_t n, uint8_t *out, size_t cap) {
    if (!h || !out || (!payload && n) || n > 0xFFFF) return 0;
    uint8_t hb[ODL_PROTO_HEADER_SIZE];
    put_header(hb, h, (uint16_t)n);
    uint32_t crc = odl_crc32(0, hb, sizeof hb);
    crc = odl_crc32(crc, payload, n);
    cobs_stream s;
    cs_init(&s, out, cap);
    for (size_t i = 0; i < sizeof hb; i++) cs_push(&s, hb[i]);
    for (size_t i = 0; i < n; i++) cs_push(&s, payload[i]);
    for (int i = 0; i < 4; i++) cs_push(&s, (uint8_t)(crc >> (8 * i)));
    return cs_finish(&s);
}

static void parser_restart(odl_frame_parser *p) {
    p->len = 0;
    p->code = 0;
    p->remaining = 0;
    p->overflow = 0;
    p->started = 0;
    p->raw_len = 0;
}

odl_status odl_parser_init(odl_frame_parser *p, uint8_t *buf, uint32_t cap) {
    if (!p || !buf || cap < ODL_PROTO_HEADER_SIZE + ODL_PROTO_CRC_SIZE) return ODL_ERR_ARG;
    memset(p, 0, sizeof *p);
    p->buf = buf;
    p->cap = cap;
    parser_restart(p);
    return ODL_OK;
}

static void emit(odl_frame_parser *p, uint8_t b) {
    if (p->len >= p->cap) {
        p->overflow = 1;
        return;
    }
    p->buf[p->len++] = b;
}

static uint32_t get_u32(const uint8_t *b) {
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static odl_parse_event finish_frame(odl_frame_parser *p) {
    const uint8_t *b = p->buf;
    p->header_valid = p->len >= ODL_PROTO_HEADER_SIZE;
    if (p->overflow)
        p->error = ODL_PERR_TOO_LARGE;
    else if (p->remaining != 0)
        p->error = ODL_PERR_COBS; /* the last block promised more bytes than arrived */
    else if (p->len < ODL_PROTO_HEADER_SIZE + ODL_PROTO_CRC_SIZE)
        p->error = ODL_PERR_TRUNCATED;
    else
        p->error = ODL_PERR_OK;
    if (p->len >= ODL_PROTO_HEADER_SIZE) {
        p->header.version = b[0];
        p->header.type = b[1];
        p->header.flags = b[2];
        p->header.status = b[3];
        p->header.seq = (uint16_t)(b[4] | (b[5] << 8));
        p->header.length = (uint16_t)(b[6] | (b[7] << 8));
    }
    if (p->error == ODL_PERR_OK) {
        uint32_t want = (uint32_t)ODL_PROTO_HEADER_SIZE + p->header.length + ODL_PROTO_CRC_SIZE;
        if (want != p->len) {
            p->error = ODL_PERR_TRUNCATED; /* bytes missing, or a length field that disagrees with the frame */
        } else if (odl_crc32(0, b, p->len - ODL_PROTO_CRC_SIZE) != get_u32(b + p->len - ODL_PROTO_CRC_SIZE)) {
            p->error = ODL_PERR_CRC;
        } else if (p->header.version != ODL_PROTO_VERSION) {
            p->error = ODL_PERR_VERSION;
        }
    }
    parser_restart(p);
    return p->error == ODL_PERR_OK ? ODL_PARSE_FRAME : ODL_PARSE_ERROR;
}

odl_parse_event odl_parser_feed_byte(odl_frame_parser *p, uint8_t byte) {
    if (byte == 0) {
        if (!p->started) return ODL_PARSE_NONE; /* empty candidate: idle line or repeated delimiters */
        /* keep len for finish_frame; it restarts the parser */
        return finish_frame(p);
    }
    p->started = 1;
    p->raw_len++;
    if (p->overflow) return ODL_PARSE_NONE;
    if (p->remaining == 0) {
        if (p->code != 0 && p->code != 0xFF) emit(p, 0); /* the implicit zero ending the previous block */
        p->code = byte;
        p->remaining = (uint8_t)(byte - 1);
    } else {
        emit(p, byte);
        p->remaining--;
    }
    return ODL_PARSE_NONE;
}

const uint8_t *odl_parser_payload(const odl_frame_parser *p) { return p->buf + ODL_PROTO_HEADER_SIZE; }
