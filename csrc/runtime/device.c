/* The device side of the odl serial protocol: frame dispatch, duplicate/stale detection, built-in messages. */
#include "proto_internal.h"

/* INFO lists every kernel id and handler type plus at least one tensor within the smallest max payload (128),
 * and counts fit in a byte. */
_Static_assert(5 + 2 * ODL_DEVICE_MAX_KERNELS + ODL_DEVICE_MAX_HANDLERS + 8 <= 128, "too many kernels/handlers");
_Static_assert(ODL_DEVICE_MAX_TENSORS <= 255, "ODL_DEVICE_MAX_TENSORS must fit in a byte");
_Static_assert(ODL_PROTO_MAX_PAYLOAD >= 128 && ODL_PROTO_MAX_PAYLOAD <= 65535, "ODL_PROTO_MAX_PAYLOAD out of range");

static uint64_t read_counter(odl_counter_fn fn, void *ctx) { return fn ? fn(ctx) : 0; }

odl_status odl_device_init(odl_device *dev, const odl_device_config *cfg) {
    if (!dev || !cfg || !cfg->write) return ODL_ERR_ARG;
    uint32_t mp = cfg->max_payload ? cfg->max_payload : ODL_PROTO_MAX_PAYLOAD;
    if (mp < 128 || mp > ODL_PROTO_MAX_PAYLOAD || mp > 0xFFFF) return ODL_ERR_ARG;
    memset(dev, 0, sizeof *dev);
    dev->cfg = *cfg;
    dev->max_payload = mp;
    dev->xfer_slot = -1;
    dev->next_xfer_id = 1;
    odl_parser_init(&dev->parser, dev->rx, sizeof dev->rx);
    return ODL_OK;
}

void odl_device_reset_session(odl_device *dev) {
    if (!dev) return;
    odl__abort_transfer(dev);
    dev->session = 0;
    dev->cache_len = 0;
    odl_parser_init(&dev->parser, dev->rx, sizeof dev->rx);
}

static odl_status put_handler(odl_handler_slot *slots, int count, uint16_t id, odl_handler_fn fn, void *ctx) {
    int free_i = -1;
    for (int i = 0; i < count; i++) {
        if (slots[i].used && slots[i].id == id) {
            free_i = i;
            break;
        }
        if (!slots[i].used && free_i < 0) free_i = i;
    }
    if (free_i < 0) return ODL_ERR_UNSUPPORTED;
    slots[free_i].id = id;
    slots[free_i].used = 1;
    slots[free_i].fn = fn;
    slots[free_i].ctx = ctx;
    return ODL_OK;
}

static const odl_handler_slot *find_handler(const odl_handler_slot *slots, int count, uint16_t id) {
    for (int i = 0; i < count; i++)
        if (slots[i].used && slots[i].id == id) return &slots[i];
    return NULL;
}

odl_status odl_device_register_kernel(odl_device *dev, uint16_t kernel_id, odl_handler_fn fn, void *ctx) {
    if (!dev || !fn || kernel_id == 0) return ODL_ERR_ARG;
    return put_handler(dev->kernels, ODL_DEVICE_MAX_KERNELS, kernel_id, fn, ctx);
}

odl_status odl_device_register_handler(odl_device *dev, uint8_t msg_type, odl_handler_fn fn, void *ctx) {
    if (!dev || !fn || msg_type < ODL_MSG_TRAIN_STEP || msg_type > ODL_MSG_USER_LAST) return ODL_ERR_ARG;
    return put_handler(dev->handlers, ODL_DEVICE_MAX_HANDLERS, msg_type, fn, ctx);
}

/* ---- sending ---------------------------------------------------------------------------------------------- */

static void send_bytes(odl_device *dev, const uint8_t *b, uint32_t n) {
    dev->stats.bytes_tx += n;
    dev->cfg.write(dev->cfg.write_ctx, b, n);
}

/* Encode a response into the reply cache and send it. */
static void send_response(odl_device *dev, uint8_t type, uint16_t seq, uint8_t status, uint32_t n) {
    odl_frame_header h = {ODL_PROTO_VERSION, type, ODL_FLAG_RESPONSE, status, seq, 0};
    if (status != ODL_PERR_OK) dev->stats.naks_sent++;
    dev->cache_len = (uint32_t)odl_frame_encode(&h, dev->reply + ODL_PROTO_HEADER_SIZE, n, dev->cache, sizeof dev->cache);
    send_bytes(dev, dev->cache, dev->cache_len);
}

/* A frame-level NAK (type ODL_MSG_NAK): not cached, does not touch the session. */
static void send_nak(odl_device *dev, uint16_t seq, uint8_t status) {
    uint8_t buf[ODL_PROTO_HEADER_SIZE + 1 + ODL_PROTO_CRC_SIZE + 4];
    uint8_t payload[1] = {ODL_PROTO_VERSION};
    odl_frame_header h = {ODL_PROTO_VERSION, ODL_MSG_NAK, ODL_FLAG_RESPONSE, status, seq, 0};
    uint32_t n = status == ODL_PERR_VERSION ? 1 : 0;
    dev->stats.naks_sent++;
    size_t len = odl_frame_encode(&h, payload, n, buf, sizeof buf);
    send_bytes(dev, buf, (uint32_t)len);
}

/* ---- built-in messages ------------------------------------------------------------------------------------- */

static uint32_t put_str(uint8_t *out, const char *s) {
    uint32_t n = 0;
    if (s)
        while (s[n] && n < 63) n++;
    out[0] = (uint8_t)n;
    memcpy(out + 1, s ? s : "", n);
    return n + 1;
}

static uint8_t do_hello(odl_device *dev, uint8_t *out, uint32_t *out_len) {
    out[0] = ODL_PROTO_VERSION;
    out[1] = 0;
    wr16(out + 2, (uint16_t)dev->max_payload);
    wr32(out + 4, dev->cfg.model_signature);
    wr32(out + 8, dev->cfg.staging ? dev->cfg.staging_size : 0);
    uint32_t o = 12;
    o += put_str(out + o, dev->cfg.fw_version);
    o += put_str(out + o, dev->cfg.board_name);
    *out_len = o;
    return ODL_PERR_OK;
}

static uint8_t do_info(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n > 1) return ODL_PERR_BAD_ARGS;
    uint32_t first = n ? in[0] : 0;
    uint8_t nt = 0, nk = 0, nh = 0;
    for (int i = 0; i < ODL_DEVICE_MAX_TENSORS; i++) nt += dev->tensors[i].used;
    for (int i = 0; i < ODL_DEVICE_MAX_KERNELS; i++) nk += (uint8_t)dev->kernels[i].used;
    for (int i = 0; i < ODL_DEVICE_MAX_HANDLERS; i++) nh += (uint8_t)dev->handlers[i].used;
    out[0] = nt;
    out[1] = nk;
    out[2] = nh;
    uint32_t o = 3;
    for (int i = 0; i < ODL_DEVICE_MAX_KERNELS; i++)
        if (dev->kernels[i].used) wr16(out + o, dev->kernels[i].id), o += 2;
    for (int i = 0; i < ODL_DEVICE_MAX_HANDLERS; i++)
        if (dev->handlers[i].used) out[o++] = (uint8_t)dev->handlers[i].id;
    /* tensors, in registration-table order, starting at index `first`, as many as fit */
    out[o++] = (uint8_t)first;
    uint32_t count_at = o++;
    uint8_t count = 0;
    uint32_t k = 0;
    for (int i = 0; i < ODL_DEVICE_MAX_TENSORS; i++) {
        const odl_tensor_slot *t = &dev->tensors[i];
        if (!t->used) continue;
        if (k++ < first) continue;
        if (o + 8 > dev->max_payload) break;
        wr16(out + o, t->id);
        out[o + 2] = t->flags;
        out[o + 3] = 0;
        wr32(out + o + 4, t->size);
        o += 8;
        count++;
    }
    out[count_at] = count;
    *out_len = o;
    return ODL_PERR_OK;
}

static uint8_t do_stats(odl_device *dev, uint8_t *out, uint32_t *out_len) {
    wr64(out, read_counter(dev->cfg.cycles, dev->cfg.counter_ctx));
    wr64(out + 8, read_counter(dev->cfg.instret, dev->cfg.counter_ctx));
    const uint32_t *c = (const uint32_t *)&dev->stats;
    uint32_t nc = sizeof dev->stats / sizeof(uint32_t);
    out[16] = (uint8_t)nc;
    for (uint32_t i = 0; i < nc; i++) wr32(out + 17 + 4 * i, c[i]);
    *out_len = 17 + 4 * nc;
    return ODL_PERR_OK;
}

/* Run a registered handler writing its output at out + skip (out = start of the response payload). */
static uint8_t run_handler(const odl_handler_slot *h, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t skip,
                           uint32_t cap, uint32_t *out_len) {
    uint32_t len = 0;
    int32_t rc = h->fn(h->ctx, in, n, out + skip, cap, &len);
    if (rc != 0) {
        wr32(out, (uint32_t)rc);
        *out_len = 4;
        return ODL_PERR_HANDLER;
    }
    if (len > cap) return ODL_PERR_REPLY_TOO_LARGE;
    *out_len = skip + len;
    return ODL_PERR_OK;
}

static uint8_t do_run_kernel(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n < 4) return ODL_PERR_BAD_ARGS;
    uint16_t kid = rd16(in);
    const uint8_t *args = in + 4;
    uint32_t nargs = n - 4, cap = dev->max_payload - ODL_RUN_KERNEL_HEADER;
    uint8_t *res = out + ODL_RUN_KERNEL_HEADER;
    uint64_t c0 = read_counter(dev->cfg.cycles, dev->cfg.counter_ctx);
    uint64_t i0 = read_counter(dev->cfg.instret, dev->cfg.counter_ctx);
    uint8_t st;
    if (kid == 0) { /* built-in echo: the link test kernel */
        if (nargs > cap) return ODL_PERR_REPLY_TOO_LARGE;
        memmove(res, args, nargs);
        *out_len = ODL_RUN_KERNEL_HEADER + nargs;
        st = ODL_PERR_OK;
    } else {
        const odl_handler_slot *h = find_handler(dev->kernels, ODL_DEVICE_MAX_KERNELS, kid);
        if (!h) return ODL_PERR_NO_KERNEL;
        st = run_handler(h, args, nargs, out, ODL_RUN_KERNEL_HEADER, cap, out_len);
    }
    uint64_t c1 = read_counter(dev->cfg.cycles, dev->cfg.counter_ctx);
    uint64_t i1 = read_counter(dev->cfg.instret, dev->cfg.counter_ctx);
    if (st == ODL_PERR_OK) {
        wr64(out, c1 - c0);
        wr64(out + 8, i1 - i0);
    }
    dev->stats.kernel_runs++;
    return st;
}

/* ---- dispatch ----------------------------------------------------------------------------------------------- */

static void handle_frame(odl_device *dev) {
    const odl_frame_header *h = &dev->parser.header;
    const uint8_t *in = dev->rx + ODL_PROTO_HEADER_SIZE;
    uint32_t n = h->length;
    if (h->flags & ODL_FLAG_RESPONSE) { /* a response (e.g. our own output looped back): never answer it */
        dev->stats.ignored++;
        return;
    }
    if (n > dev->max_payload) {
        dev->stats.oversized++;
        send_nak(dev, h->seq, ODL_PERR_TOO_LARGE);
        return;
    }
    dev->stats.frames_ok++;
    uint32_t crc = rd32(in + n);
    if (dev->session && h->seq == dev->last_seq && crc == dev->last_crc && dev->cache_len) {
        dev->stats.duplicates++;
        send_bytes(dev, dev->cache, dev->cache_len);
        return;
    }
    uint8_t *out = dev->reply + ODL_PROTO_HEADER_SIZE;
    uint32_t out_len = 0;
    if (h->type != ODL_MSG_HELLO && h->type != ODL_MSG_RESET && dev->session) {
        uint16_t behind = (uint16_t)(dev->last_seq - h->seq);
        if (behind != 0 && behind <= ODL_PROTO_STALE_WINDOW) {
            dev->stats.stale++;
            wr16(out, dev->last_seq);
            /* not cached: the cache keeps answering the real last request */
            odl_frame_header rh = {ODL_PROTO_VERSION, h->type, ODL_FLAG_RESPONSE, ODL_PERR_STALE, h->seq, 0};
            uint8_t buf[ODL_PROTO_HEADER_SIZE + 2 + ODL_PROTO_CRC_SIZE + 4];
            size_t len = odl_frame_encode(&rh, out, 2, buf, sizeof buf);
            dev->stats.naks_sent++;
            send_bytes(dev, buf, (uint32_t)len);
            return;
        }
    }
    uint8_t st;
    int do_reset = 0;
    switch (h->type) {
    case ODL_MSG_HELLO:
        odl__abort_transfer(dev);
        dev->session = 0;
        st = do_hello(dev, out, &out_len);
        break;
    case ODL_MSG_PING:
        memmove(out, in, n);
        out_len = n;
        st = ODL_PERR_OK;
        break;
    case ODL_MSG_INFO: st = do_info(dev, in, n, out, &out_len); break;
    case ODL_MSG_STATS: st = do_stats(dev, out, &out_len); break;
    case ODL_MSG_RESET:
        st = ODL_PERR_OK;
        do_reset = 1;
        break;
    case ODL_MSG_TENSOR_INFO: st = odl__tensor_info(dev, in, n, out, &out_len); break;
    case ODL_MSG_WRITE_BEGIN: st = odl__write_begin(dev, in, n, out, &out_len); break;
    case ODL_MSG_WRITE_CHUNK: st = odl__write_chunk(dev, in, n, out, &out_len); break;
    case ODL_MSG_WRITE_COMMIT: st = odl__write_commit(dev, in, n, out, &out_len); break;
    case ODL_MSG_WRITE_ABORT:
        odl__abort_transfer(dev);
        st = ODL_PERR_OK;
        break;
    case ODL_MSG_READ_CHUNK: st = odl__read_chunk(dev, in, n, out, &out_len); break;
    case ODL_MSG_RUN_KERNEL: st = do_run_kernel(dev, in, n, out, &out_len); break;
    default: {
        const odl_handler_slot *hs = find_handler(dev->handlers, ODL_DEVICE_MAX_HANDLERS, h->type);
        if (hs)
            st = run_handler(hs, in, n, out, 0, dev->max_payload, &out_len);
        else
            st = ODL_PERR_UNKNOWN_TYPE;
    }
    }
    if (st != ODL_PERR_OK && st != ODL_PERR_OFFSET && st != ODL_PERR_INCOMPLETE && st != ODL_PERR_HANDLER &&
        st != ODL_PERR_STALE)
        out_len = 0;
    if (out_len > dev->max_payload) {
        st = ODL_PERR_REPLY_TOO_LARGE;
        out_len = 0;
    }
    dev->last_seq = h->seq;
    dev->last_crc = crc;
    dev->session = 1;
    send_response(dev, h->type, h->seq, st, out_len);
    if (do_reset) {
        odl_device_reset_session(dev);
        dev->stats.resets++;
        if (dev->cfg.reset) dev->cfg.reset(dev->cfg.reset_ctx);
    }
}

int32_t odl_device_feed(odl_device *dev, const uint8_t *bytes, size_t n) {
    if (!dev || (!bytes && n)) return ODL_ERR_ARG;
    int32_t frames = 0;
    dev->stats.bytes_rx += (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        odl_parse_event ev = odl_parser_feed_byte(&dev->parser, bytes[i]);
        if (ev == ODL_PARSE_NONE) continue;
        frames++;
        if (ev == ODL_PARSE_FRAME) {
            handle_frame(dev);
            continue;
        }
        const odl_frame_parser *p = &dev->parser;
        switch (p->error) {
        case ODL_PERR_CRC: dev->stats.crc_errors++; break;
        case ODL_PERR_COBS: dev->stats.cobs_errors++; break;
        case ODL_PERR_TOO_LARGE: dev->stats.oversized++; break;
        case ODL_PERR_VERSION: dev->stats.version_errors++; break;
        default: dev->stats.truncated++; break;
        }
        /* never answer something that claims to be a response (a corrupted echo of our own output) */
        if (p->header_valid && (p->header.flags & ODL_FLAG_RESPONSE) && p->error == ODL_PERR_VERSION) continue;
        send_nak(dev, p->header_valid ? p->header.seq : 0xFFFF, p->error);
    }
    return frames;
}
