/* QEMU TCG plugin (API v1, QEMU 7.2): exact count of guest instructions executed between two marker functions.
 * Usage: -plugin ./insncount.so,start=0xADDR,stop=0xADDR  (addresses of odl_mark_start / odl_mark_stop, Thumb bit
 * cleared). Every instruction adds 1 to a counter inline; entering the start marker snapshots it, entering the
 * stop marker prints "insncount <n>" (instructions from the start marker's first instruction up to, not including,
 * the stop marker's first one) to stderr. No QEMU header is installed on Debian, so the few API symbols used are
 * declared here; the qemu-system-* binaries export them. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t counter, start_value;
static uint64_t start_addr = UINT64_MAX, stop_addr = UINT64_MAX;

static void on_start(unsigned int vcpu, void *ud) {
    (void)vcpu, (void)ud;
    start_value = counter;
}

static void on_stop(unsigned int vcpu, void *ud) {
    (void)vcpu, (void)ud;
    fprintf(stderr, "insncount %" PRIu64 "\n", counter - start_value);
    fflush(stderr);
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The snapshot callbacks run before this instruction's own increment. */
        if (pc == start_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, 0);
        if (pc == stop_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, 0);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counter, 1);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                                               char **argv) {
    (void)info;
    for (int i = 0; i < argc; ++i) {
        if (!strncmp(argv[i], "start=", 6)) start_addr = strtoull(argv[i] + 6, 0, 0) & ~1ull;
        if (!strncmp(argv[i], "stop=", 5)) stop_addr = strtoull(argv[i] + 5, 0, 0) & ~1ull;
    }
    if (start_addr == UINT64_MAX || stop_addr == UINT64_MAX) {
        fprintf(stderr, "insncount: need start=ADDR,stop=ADDR\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    return 0;
}
