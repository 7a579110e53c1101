/* odl/protocol.h - the odl serial protocol: CRC-32, COBS, frame codec and the device-side command handler.
 *
 * docs/protocol.md is the specification; this header is its C form. The same code runs on the host (through
 * cffi, driven by toolkit.link) and on every board (firmware/ calls odl_device_feed() from its UART loop).
 * No malloc, no libc beyond string.h/stdint.h/stddef.h: every buffer lives in the odl_device object (sized by the
 * ODL_PROTO_* / ODL_DEVICE_* macros below, which a board may override with -D) or is handed in by the caller.
 *
 * Wire format of one frame (all integers little-endian):
 *   COBS( header[8] | payload[length] | crc32[4] ) 0x00
 *   header = version u8 | type u8 | flags u8 | status u8 | seq u16 | length u16
 *   crc32  = CRC-32/IEEE (zlib.crc32) of header and payload.
 */
#ifndef ODL_PROTOCOL_H
#define ODL_PROTOCOL_H

#include "odl/common.h"

/* ---- sizes (a board may override the defaults with -D; the host build uses the defaults) ---------------------- */
#ifndef ODL_PROTO_MAX_PAYLOAD
#define ODL_PROTO_MAX_PAYLOAD 1024 /* largest payload a device accepts or sends; reported by HELLO (<= 65535) */
#endif
#ifndef ODL_DEVICE_MAX_TENSORS
#define ODL_DEVICE_MAX_TENSORS 16
#endif
#ifndef ODL_DEVICE_MAX_KERNELS
#define ODL_DEVICE_MAX_KERNELS 16
#endif
#ifndef ODL_DEVICE_MAX_HANDLERS
#define ODL_DEVICE_MAX_HANDLERS 8
#endif
#define ODL_PROTO_HEADER_SIZE 8
#define ODL_PROTO_CRC_SIZE 4
#define ODL_PROTO_MAX_FRAME (ODL_PROTO_HEADER_SIZE + ODL_PROTO_MAX_PAYLOAD + ODL_PROTO_CRC_SIZE)
/* COBS adds one byte per 254 and one up front; plus the 0x00 delimiter. */
#define ODL_PROTO_MAX_ENCODED (ODL_PROTO_MAX_FRAME + ODL_PROTO_MAX_FRAME / 254 + 2)

/* ---- constants ---------------------------------------------------------------------------------------------- */
enum { ODL_PROTO_VERSION = 1 };

/* A request whose seq is 1..ODL_PROTO_STALE_WINDOW behind the last executed one is a late duplicate: NAKed with
 * ODL_PERR_STALE, never executed. HELLO and RESET are exempt (they start a new session). */
enum { ODL_PROTO_STALE_WINDOW = 1024 };

/* Sizes of the fixed parts of the tensor messages (see docs/protocol.md). */
enum {
    ODL_WRITE_CHUNK_HEADER = 12, /* u16 transfer id, u16 reserved, u32 offset, u32 chunk crc */
    ODL_READ_CHUNK_HEADER = 8,   /* u32 offset, u32 chunk crc */
    ODL_RUN_KERNEL_HEADER = 16   /* reply: u64 cycles, u64 instret */
};

/* Header flags. */
enum { ODL_FLAG_RESPONSE = 0x01 };

/* Message types. 0x00 is never used; 0x01-0x2F are built into odl_device; 0x30-0x3F are reserved for the
 * training messages (the generated firmware registers handlers for them); 0x40-0x7E are free for firmware-defined
 * messages; 0x7F is the frame-level NAK a device sends for a frame it could not accept. */
typedef enum {
    ODL_MSG_HELLO = 0x01,        /* -> protocol version, max payload, model signature, staging size, fw, board */
    ODL_MSG_PING = 0x02,         /* echoes its payload */
    ODL_MSG_INFO = 0x03,         /* -> tensor table, kernel ids, registered message types */
    ODL_MSG_STATS = 0x04,        /* -> cycles, instructions retired, link counters */
    ODL_MSG_RESET = 0x05,        /* reply first, then abort transfers, clear the session, call cfg->reset */
    ODL_MSG_TENSOR_INFO = 0x10,  /* id -> size, flags, CRC-32 of the current contents */
    ODL_MSG_WRITE_BEGIN = 0x11,  /* id, size, CRC-32 of the whole new contents -> transfer id, max chunk */
    ODL_MSG_WRITE_CHUNK = 0x12,  /* transfer id, offset, chunk CRC-32, data -> next offset */
    ODL_MSG_WRITE_COMMIT = 0x13, /* transfer id -> the tensor is replaced iff every byte arrived and the CRC matches */
    ODL_MSG_WRITE_ABORT = 0x14,  /* drop the transfer in progress (the tensor keeps its old contents) */
    ODL_MSG_READ_CHUNK = 0x15,   /* id, offset, length -> offset, chunk CRC-32, data */
    ODL_MSG_RUN_KERNEL = 0x20,   /* kernel id, args -> cycles, instret, output (kernel id 0: built-in echo) */
    ODL_MSG_TRAIN_STEP = 0x30,   /* reserved: one training step on a sample (handler registered by firmware) */
    ODL_MSG_EVAL = 0x31,         /* reserved: inference / evaluation on a sample */
    ODL_MSG_USER_FIRST = 0x40,   /* first firmware-defined type */
    ODL_MSG_USER_LAST = 0x7E,    /* last firmware-defined type */
    ODL_MSG_NAK = 0x7F           /* frame-level rejection (status says why) */
} odl_msg_type;

/* Status byte of a response: 0 is an ACK, anything else a NAK with this reason. */
typedef enum {
    ODL_PERR_OK = 0,
    ODL_PERR_CRC = 1,            /* frame CRC mismatch: retransmit */
    ODL_PERR_VERSION = 2,        /* protocol version not supported; payload: u8 device version */
    ODL_PERR_TOO_LARGE = 3,      /* frame longer than the device's max frame: retransmit smaller */
    ODL_PERR_TRUNCATED = 4,      /* frame shorter than header + CRC, or length field disagrees: retransmit */
    ODL_PERR_COBS = 5,           /* COBS decoding failed: retransmit */
    ODL_PERR_UNKNOWN_TYPE = 6,   /* no built-in or registered handler for this message type */
    ODL_PERR_BAD_ARGS = 7,       /* payload malformed for this message */
    ODL_PERR_NO_TENSOR = 8,      /* unknown tensor id */
    ODL_PERR_READ_ONLY = 9,      /* tensor registered read-only */
    ODL_PERR_SIZE = 10,          /* size does not match the registered tensor, or a chunk runs past its end */
    ODL_PERR_OFFSET = 11,        /* chunk not at the next expected offset; payload: u32 expected offset */
    ODL_PERR_CHUNK_CRC = 12,     /* chunk CRC mismatch; the chunk was not stored */
    ODL_PERR_TENSOR_CRC = 13,    /* whole-tensor CRC mismatch at commit; transfer dropped, tensor unchanged */
    ODL_PERR_NO_TRANSFER = 14,   /* chunk/commit without a matching WRITE_BEGIN (wrong or stale transfer id) */
    ODL_PERR_INCOMPLETE = 15,    /* commit before every byte arrived; payload: u32 bytes received */
    ODL_PERR_NO_SPACE = 16,      /* tensor larger than the staging buffer and registered without a shadow */
    ODL_PERR_NO_KERNEL = 17,     /* RUN_KERNEL with an unregistered kernel id */
    ODL_PERR_HANDLER = 18,       /* a registered handler failed; payload: i32 handler return value */
    ODL_PERR_STALE = 19,         /* seq is behind the session's last seq (a late duplicate); payload: u16 last seq */
    ODL_PERR_REPLY_TOO_LARGE = 20 /* the reply would exceed max payload */
} odl_proto_error;

/* Tensor flags. */
enum {
    ODL_TENSOR_READ_ONLY = 0x00,
    ODL_TENSOR_WRITABLE = 0x01,
    ODL_TENSOR_SHADOWED = 0x02 /* set by odl_device_register_tensor_shadowed(): commit swaps data and shadow */
};

/* ---- CRC-32 and COBS ---------------------------------------------------------------------------------------- */

/* CRC-32/IEEE, zlib-compatible and chainable: odl_crc32(odl_crc32(0, a, n), b, m) == zlib.crc32(a + b). */
uint32_t odl_crc32(uint32_t crc, const uint8_t *data, size_t n);

/* Worst-case COBS-encoded size of n bytes (without the 0x00 delimiter). */
size_t odl_cobs_max_encoded(size_t n);

/* COBS-encode n bytes into out (no 0x00 delimiter appended). Returns the encoded length, 0 if cap is too small. */
size_t odl_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* COBS-decode n bytes (no delimiter, no zero inside) into out. Returns the decoded length or -1 if malformed or
 * cap is too small. in and out may be the same buffer. */
int32_t odl_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* ---- frames ------------------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t flags;
    uint8_t status;
    uint16_t seq;
    uint16_t length; /* payload bytes */
} odl_frame_header;

/* Encode a whole frame (header with h->length = n, payload, CRC, COBS, trailing 0x00) into out. Returns the number of
 * bytes written, or 0 if cap is too small or n > 65535. */
size_t odl_frame_encode(const odl_frame_header *h, const uint8_t *payload, size_t n, uint8_t *out, size_t cap);

/* Events returned by odl_parser_feed_byte(). */
typedef enum {
    ODL_PARSE_NONE = 0,  /* byte consumed, no frame finished */
    ODL_PARSE_FRAME = 1, /* a valid frame is in parser->header / parser->buf[ODL_PROTO_HEADER_SIZE ..] */
    ODL_PARSE_ERROR = 2  /* a non-empty invalid frame ended; parser->error says why (ODL_PERR_*) */
} odl_parse_event;

/* Byte-at-a-time frame parser with streaming COBS decoding. Resynchronises on every 0x00: whatever precedes a
 * delimiter is one frame candidate; empty candidates (repeated 0x00) are ignored. The version is checked after
 * the CRC (so a corrupted version byte reads as a CRC error, a real other-version frame as a version error). */
typedef struct {
    uint8_t *buf;      /* decoded bytes of the current frame (header | payload | crc) */
    uint32_t cap;      /* capacity of buf */
    uint32_t len;      /* decoded bytes so far */
    uint8_t code;      /* current COBS block code */
    uint8_t remaining; /* data bytes left in the current block */
    uint8_t overflow;  /* candidate exceeded cap: discard until the next 0x00 */
    uint8_t started;   /* at least one byte of the candidate seen */
    uint32_t raw_len;  /* encoded bytes of the current candidate */
    odl_frame_header header; /* valid after ODL_PARSE_FRAME (and best effort after an error) */
    uint8_t error;     /* ODL_PERR_* after ODL_PARSE_ERROR */
    uint8_t header_valid; /* after an error: 1 if at least the 8 header bytes were decoded */
} odl_frame_parser;

/* Set up a parser over a caller-owned buffer of cap bytes (>= ODL_PROTO_HEADER_SIZE + ODL_PROTO_CRC_SIZE). */
odl_status odl_parser_init(odl_frame_parser *p, uint8_t *buf, uint32_t cap);

/* Feed one received byte. */
odl_parse_event odl_parser_feed_byte(odl_frame_parser *p, uint8_t byte);

/* Payload of the frame just returned by ODL_PARSE_FRAME. */
const uint8_t *odl_parser_payload(const odl_frame_parser *p);

/* ---- the device --------------------------------------------------------------------------------------------- */

/* Commit journal, for boards whose tensors and staging buffer survive a warm reset (e.g. in a .noinit section).
 * A commit through the staging buffer marks the journal pending, copies, then clears it; after a reset in the middle
 * of that copy, odl_device_recover() finishes the copy from the (retained) staging buffer, so the tensor still ends
 * up as the complete new contents. Place it next to the staging buffer, in memory the reset does not clear. */
enum { ODL_JOURNAL_PENDING = 0x4A6C646F }; /* "odlJ" */
typedef struct {
    uint32_t magic;     /* ODL_JOURNAL_PENDING while a commit copies staging into a tensor, else 0 */
    uint16_t tensor_id;
    uint16_t reserved;
    uint32_t size;
    uint32_t crc;       /* CRC-32 of the staged bytes */
    uint32_t check;     /* CRC-32 of the 12 bytes above: random power-on RAM is never taken for a pending commit */
} odl_commit_journal;

/* Output callback: send n bytes to the host (UART, USB CDC, or a host-test buffer). */
typedef void (*odl_write_fn)(void *ctx, const uint8_t *bytes, uint32_t n);
/* A monotonically increasing 64-bit counter (cycles or instructions retired); NULL reads as 0. */
typedef uint64_t (*odl_counter_fn)(void *ctx);
/* Called after the RESET reply has been written (a board resets here; NULL = soft reset only). */
typedef void (*odl_reset_fn)(void *ctx);
/* Handler for a RUN_KERNEL id or a registered message type: read n_in bytes of input, write up to out_cap bytes to
 * out and set *out_len. Return 0 on success; any other value is sent back as an ODL_PERR_HANDLER NAK. */
typedef int32_t (*odl_handler_fn)(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                                  uint32_t *out_len);

typedef struct {
    const char *board_name;   /* e.g. "qemu-cm55" (up to 63 bytes are reported) */
    const char *fw_version;   /* e.g. "0.1.0" (up to 63 bytes are reported) */
    uint32_t model_signature; /* identifies the model compiled into the firmware; 0 = none */
    uint32_t max_payload;     /* 0 = ODL_PROTO_MAX_PAYLOAD; otherwise 64 .. ODL_PROTO_MAX_PAYLOAD */
    odl_write_fn write;       /* required */
    void *write_ctx;
    odl_counter_fn cycles;
    odl_counter_fn instret;
    void *counter_ctx;
    odl_reset_fn reset;
    void *reset_ctx;
    uint8_t *staging;         /* staging buffer for tensor writes (may be NULL: only shadowed tensors writable) */
    uint32_t staging_size;
    odl_commit_journal *journal; /* optional (NULL = none); see odl_device_recover() */
} odl_device_config;

/* Link counters, reported by STATS in this order (all u32). */
typedef struct {
    uint32_t frames_ok;       /* valid request frames received */
    uint32_t crc_errors;
    uint32_t cobs_errors;
    uint32_t oversized;
    uint32_t truncated;
    uint32_t version_errors;
    uint32_t duplicates;      /* requests answered from the reply cache instead of being executed again */
    uint32_t stale;           /* late duplicates rejected with ODL_PERR_STALE */
    uint32_t naks_sent;       /* responses with a non-zero status, frame-level or not */
    uint32_t bytes_rx;
    uint32_t bytes_tx;
    uint32_t tensors_committed;
    uint32_t transfers_aborted;
    uint32_t kernel_runs;
    uint32_t resets;
    uint32_t ignored;         /* frames with the RESPONSE flag (our own echo) dropped silently */
} odl_link_stats;

typedef struct {
    uint16_t id;
    uint8_t flags;    /* ODL_TENSOR_* */
    uint8_t used;
    uint32_t size;
    uint8_t *data;    /* current contents (commit of a shadowed tensor swaps data and shadow) */
    uint8_t *shadow;
} odl_tensor_slot;

typedef struct {
    uint16_t id; /* RUN_KERNEL id, or message type */
    uint16_t used;
    odl_handler_fn fn;
    void *ctx;
} odl_handler_slot;

typedef struct {
    odl_device_config cfg;
    uint32_t max_payload;
    odl_frame_parser parser;
    uint8_t rx[ODL_PROTO_MAX_FRAME];
    uint8_t reply[ODL_PROTO_MAX_FRAME];   /* response being built (header | payload | crc) */
    uint8_t cache[ODL_PROTO_MAX_ENCODED]; /* last encoded response, re-sent for a duplicate request */
    uint32_t cache_len;
    uint16_t last_seq;
    uint8_t session;       /* 1 once a request was executed since init/HELLO/RESET: last_seq/last_crc valid */
    uint8_t in_handler;
    uint32_t last_crc;     /* frame CRC of the last executed request */
    odl_tensor_slot tensors[ODL_DEVICE_MAX_TENSORS];
    odl_handler_slot kernels[ODL_DEVICE_MAX_KERNELS];
    odl_handler_slot handlers[ODL_DEVICE_MAX_HANDLERS];
    /* tensor write in progress */
    int32_t xfer_slot;     /* index into tensors, -1 = none */
    uint16_t xfer_id;
    uint16_t next_xfer_id;
    uint32_t xfer_size;
    uint32_t xfer_crc;     /* expected whole-tensor CRC */
    uint32_t xfer_received;
    uint32_t xfer_running; /* running CRC of the bytes received */
    uint8_t *xfer_dest;    /* staging buffer or the tensor's shadow */
    odl_link_stats stats;
} odl_device;

/* Initialise a device (zeroes it, copies cfg). ODL_ERR_ARG if cfg or cfg->write is NULL or max_payload is out of
 * range. */
odl_status odl_device_init(odl_device *dev, const odl_device_config *cfg);

/* Register a tensor under id: size bytes at data, flags ODL_TENSOR_READ_ONLY or ODL_TENSOR_WRITABLE. A writable
 * tensor larger than cfg->staging_size cannot be written (ODL_PERR_NO_SPACE) unless registered shadowed. Re-registering an id
 * replaces it. ODL_ERR_ARG on NULL data / zero size, ODL_ERR_UNSUPPORTED when the table is full. */
odl_status odl_device_register_tensor(odl_device *dev, uint16_t id, void *data, uint32_t size, uint32_t flags);

/* Register a writable tensor with a shadow buffer of the same size: writes go to the shadow, commit swaps the two
 * pointers (no staging needed, no copy). Read the current contents with odl_device_tensor_data(). */
odl_status odl_device_register_tensor_shadowed(odl_device *dev, uint16_t id, void *data, void *shadow, uint32_t size);

/* Current contents of tensor id (NULL if unknown). */
void *odl_device_tensor_data(const odl_device *dev, uint16_t id);

/* Register fn for RUN_KERNEL kernel_id (1..65535; id 0 is the built-in echo). Replaces an existing entry. */
odl_status odl_device_register_kernel(odl_device *dev, uint16_t kernel_id, odl_handler_fn fn, void *ctx);

/* Register fn for message type msg_type (0x30..0x7E only: built-in types cannot be overridden). The handler gets
 * the request payload and writes the response payload. */
odl_status odl_device_register_handler(odl_device *dev, uint8_t msg_type, odl_handler_fn fn, void *ctx);

/* Feed received bytes: every complete frame is handled and its response written through cfg->write. Returns the
 * number of frames that ended in these bytes (valid or not), or ODL_ERR_ARG. Never blocks, never fails on input. */
int32_t odl_device_feed(odl_device *dev, const uint8_t *bytes, size_t n);

/* Soft reset of the protocol state: drop any transfer, forget the session (seq / reply cache), clear the parser.
 * Tensors and registrations are kept. */
void odl_device_reset_session(odl_device *dev);

/* Call once at boot, after registering the tensors: if cfg->journal records a commit that a reset interrupted and
 * the staging buffer still holds exactly the bytes it recorded, finish that copy. Returns 1 if a commit was
 * finished, 0 if there was nothing to do, ODL_ERR_SHAPE if the journal was pending but cannot be replayed (tensor
 * unknown, size or staging CRC mismatch: that tensor may be mixed and must be rewritten). Clears the journal. */
int32_t odl_device_recover(odl_device *dev);

/* ---- host-test transport ------------------------------------------------------------------------------------ */

/* An append-only byte buffer usable as cfg->write (ctx = the odl_bytebuf): host tests read the device's output
 * from it. Bytes that do not fit are counted in `overflow` and dropped. */
typedef struct {
    uint8_t *data;
    uint32_t cap;
    uint32_t len;
    uint32_t overflow;
} odl_bytebuf;

void odl_bytebuf_write(void *ctx, const uint8_t *bytes, uint32_t n);

#endif /* ODL_PROTOCOL_H */
