/* Tensor store of the device: registration, chunked all-or-nothing writes, chunked reads.
 *
 * Commit scheme (docs/protocol.md, "Tensor writes"): chunks of a write go to a staging area - the shared staging
 * buffer of the config, or the tensor's own shadow buffer - never into the tensor. Only WRITE_COMMIT, after every
 * byte arrived in order and the CRC-32 of the whole staged contents equals the one announced by WRITE_BEGIN,
 * replaces the tensor (memcpy from staging, or a pointer swap with the shadow) in one handler call, so between
 * messages a tensor is always either its old or its complete new contents. */
#include "proto_internal.h"

static int32_t find_tensor(const odl_device *dev, uint16_t id) {
    for (int32_t i = 0; i < ODL_DEVICE_MAX_TENSORS; i++)
        if (dev->tensors[i].used && dev->tensors[i].id == id) return i;
    return -1;
}

static odl_status put_tensor(odl_device *dev, uint16_t id, void *data, void *shadow, uint32_t size, uint8_t flags) {
    if (!dev || !data || size == 0) return ODL_ERR_ARG;
    int32_t i = find_tensor(dev, id);
    if (i < 0) {
        for (i = 0; i < ODL_DEVICE_MAX_TENSORS && dev->tensors[i].used; i++) {
        }
        if (i == ODL_DEVICE_MAX_TENSORS) return ODL_ERR_UNSUPPORTED;
    }
    if (dev->xfer_slot == i) odl__abort_transfer(dev);
    odl_tensor_slot *t = &dev->tensors[i];
    t->id = id;
    t->flags = flags;
    t->used = 1;
    t->size = size;
    t->data = (uint8_t *)data;
    t->shadow = (uint8_t *)shadow;
    return ODL_OK;
}

odl_status odl_device_register_tensor(odl_device *dev, uint16_t id, void *data, uint32_t size, uint32_t flags) {
    if (flags & ~(uint32_t)ODL_TENSOR_WRITABLE) return ODL_ERR_ARG;
    return put_tensor(dev, id, data, NULL, size, (uint8_t)flags);
}

odl_status odl_device_register_tensor_shadowed(odl_device *dev, uint16_t id, void *data, void *shadow, uint32_t size) {
    if (!shadow || shadow == data) return ODL_ERR_ARG;
    return put_tensor(dev, id, data, shadow, size, ODL_TENSOR_WRITABLE | ODL_TENSOR_SHADOWED);
}

void *odl_device_tensor_data(const odl_device *dev, uint16_t id) {
    if (!dev) return NULL;
    int32_t i = find_tensor(dev, id);
    return i < 0 ? NULL : dev->tensors[i].data;
}

void odl__abort_transfer(odl_device *dev) {
    if (dev->xfer_slot >= 0) dev->stats.transfers_aborted++;
    dev->xfer_slot = -1;
    dev->xfer_dest = NULL;
    dev->xfer_received = 0;
}

uint8_t odl__tensor_info(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n != 2) return ODL_PERR_BAD_ARGS;
    int32_t i = find_tensor(dev, rd16(in));
    if (i < 0) return ODL_PERR_NO_TENSOR;
    const odl_tensor_slot *t = &dev->tensors[i];
    wr16(out, t->id);
    out[2] = t->flags;
    out[3] = 0;
    wr32(out + 4, t->size);
    wr32(out + 8, odl_crc32(0, t->data, t->size));
    *out_len = 12;
    return ODL_PERR_OK;
}

uint8_t odl__write_begin(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n != 12) return ODL_PERR_BAD_ARGS;
    /* Any new WRITE_BEGIN ends the previous transfer, whatever happens next. */
    odl__abort_transfer(dev);
    int32_t i = find_tensor(dev, rd16(in));
    if (i < 0) return ODL_PERR_NO_TENSOR;
    odl_tensor_slot *t = &dev->tensors[i];
    if (!(t->flags & ODL_TENSOR_WRITABLE)) return ODL_PERR_READ_ONLY;
    uint32_t size = rd32(in + 4);
    if (size != t->size) return ODL_PERR_SIZE;
    uint8_t *dest;
    if (t->flags & ODL_TENSOR_SHADOWED)
        dest = t->shadow;
    else if (dev->cfg.staging && size <= dev->cfg.staging_size)
        dest = dev->cfg.staging;
    else
        return ODL_PERR_NO_SPACE;
    dev->xfer_slot = i;
    dev->xfer_id = dev->next_xfer_id++;
    if (dev->next_xfer_id == 0) dev->next_xfer_id = 1;
    dev->xfer_size = size;
    dev->xfer_crc = rd32(in + 8);
    dev->xfer_received = 0;
    dev->xfer_running = 0;
    dev->xfer_dest = dest;
    wr16(out, dev->xfer_id);
    wr16(out + 2, (uint16_t)(dev->max_payload - ODL_WRITE_CHUNK_HEADER));
    *out_len = 4;
    return ODL_PERR_OK;
}

uint8_t odl__write_chunk(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n < ODL_WRITE_CHUNK_HEADER) return ODL_PERR_BAD_ARGS;
    if (dev->xfer_slot < 0 || rd16(in) != dev->xfer_id) return ODL_PERR_NO_TRANSFER;
    uint32_t offset = rd32(in + 4), crc = rd32(in + 8), len = n - ODL_WRITE_CHUNK_HEADER;
    const uint8_t *data = in + ODL_WRITE_CHUNK_HEADER;
    if (offset != dev->xfer_received) {
        wr32(out, dev->xfer_received);
        *out_len = 4;
        return ODL_PERR_OFFSET;
    }
    if (len > dev->xfer_size - offset) return ODL_PERR_SIZE;
    if (odl_crc32(0, data, len) != crc) return ODL_PERR_CHUNK_CRC;
    memcpy(dev->xfer_dest + offset, data, len);
    dev->xfer_running = odl_crc32(dev->xfer_running, data, len);
    dev->xfer_received += len;
    wr32(out, dev->xfer_received);
    *out_len = 4;
    return ODL_PERR_OK;
}

uint8_t odl__write_commit(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n != 2) return ODL_PERR_BAD_ARGS;
    if (dev->xfer_slot < 0 || rd16(in) != dev->xfer_id) return ODL_PERR_NO_TRANSFER;
    if (dev->xfer_received != dev->xfer_size) {
        wr32(out, dev->xfer_received);
        *out_len = 4;
        return ODL_PERR_INCOMPLETE;
    }
    /* The running CRC covers what was stored; check the staged bytes themselves too (cheap insurance against a
     * firmware bug writing into the staging buffer during the transfer). */
    if (dev->xfer_running != dev->xfer_crc || odl_crc32(0, dev->xfer_dest, dev->xfer_size) != dev->xfer_crc) {
        odl__abort_transfer(dev);
        return ODL_PERR_TENSOR_CRC;
    }
    odl_tensor_slot *t = &dev->tensors[dev->xfer_slot];
    if (t->flags & ODL_TENSOR_SHADOWED) {
        uint8_t *old = t->data;
        t->data = t->shadow;
        t->shadow = old;
    } else {
        odl_commit_journal *j = dev->cfg.journal;
        if (j) {
            j->tensor_id = t->id;
            j->reserved = 0;
            j->size = t->size;
            j->crc = dev->xfer_crc;
            j->check = odl_crc32(0, (const uint8_t *)j + 4, 12);
            __asm__ __volatile__("" ::: "memory"); /* the record is complete before it is marked pending */
            j->magic = ODL_JOURNAL_PENDING;
            __asm__ __volatile__("" ::: "memory");
        }
        memcpy(t->data, dev->xfer_dest, t->size);
        if (j) {
            __asm__ __volatile__("" ::: "memory");
            j->magic = 0;
        }
    }
    dev->stats.tensors_committed++;
    dev->xfer_slot = -1;
    dev->xfer_dest = NULL;
    dev->xfer_received = 0;
    wr32(out, dev->xfer_crc);
    *out_len = 4;
    return ODL_PERR_OK;
}

int32_t odl_device_recover(odl_device *dev) {
    if (!dev) return ODL_ERR_ARG;
    odl_commit_journal *j = dev->cfg.journal;
    if (!j || j->magic != ODL_JOURNAL_PENDING) return 0;
    int32_t rc = ODL_ERR_SHAPE;
    int32_t i = find_tensor(dev, j->tensor_id);
    if (j->check == odl_crc32(0, (const uint8_t *)j + 4, 12) && i >= 0 && dev->cfg.staging &&
        j->size == dev->tensors[i].size && j->size <= dev->cfg.staging_size &&
        odl_crc32(0, dev->cfg.staging, j->size) == j->crc) {
        memcpy(dev->tensors[i].data, dev->cfg.staging, j->size);
        dev->stats.tensors_committed++;
        rc = 1;
    }
    j->magic = 0;
    return rc;
}

uint8_t odl__read_chunk(odl_device *dev, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t *out_len) {
    if (n != 10) return ODL_PERR_BAD_ARGS;
    int32_t i = find_tensor(dev, rd16(in));
    if (i < 0) return ODL_PERR_NO_TENSOR;
    const odl_tensor_slot *t = &dev->tensors[i];
    uint32_t offset = rd32(in + 4), len = rd16(in + 8);
    if (offset > t->size) return ODL_PERR_SIZE;
    uint32_t room = dev->max_payload - ODL_READ_CHUNK_HEADER;
    if (len > room) len = room;
    if (len > t->size - offset) len = t->size - offset;
    const uint8_t *src = t->data + offset;
    wr32(out, offset);
    wr32(out + 4, odl_crc32(0, src, len));
    memcpy(out + ODL_READ_CHUNK_HEADER, src, len);
    *out_len = ODL_READ_CHUNK_HEADER + len;
    return ODL_PERR_OK;
}
