/* insncount: a QEMU TCG plugin (API v1, QEMU 7.2) that counts the guest instructions executed between two marker
 * addresses, exactly.
 *
 *   qemu-system-arm ... -plugin ./insncount.so,start=0x434,stop=0x438[,out=DEST]
 *
 * Every translated instruction gets an inline "counter += 1" (exact even when a TB exits early on an exception);
 * the instructions at `start` and `stop` also get a callback that snapshots the counter. Each time `stop` is
 * reached the plugin reports the instructions from start to stop (those of the start marker included, the stop
 * marker's not), to DEST:
 *   out=PATH    appends "<n>\n" to the file PATH (flushed at once), so a host that receives the firmware's reply
 *               after the stop marker ran finds the count as the last line (toolkit.target.session);
 *   out=stderr  writes "insncount <n>\n" to QEMU's stderr (flushed at once, in order with semihosting output);
 *   no out=     writes "insncount <n>\n" through qemu_plugin_outs, i.e. to the QEMU log (`-d plugin [-D FILE]`).
 * Thumb addresses may be given with bit 0 set (it is ignored).
 *
 * Debian ships no qemu-plugin.h, so the few declarations used are written out here (QEMU 7.2 include/qemu/
 * qemu-plugin.h, plugin API version 1); the symbols are exported by the qemu-system-* binaries. Build:
 *   gcc -shared -fPIC -O2 -o insncount.so insncount.c        (toolkit.target.plugin does it on demand)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0, QEMU_PLUGIN_CB_R_REGS = 1, QEMU_PLUGIN_CB_RW_REGS = 2 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t count;   /* instructions executed so far (single vCPU boards) */
static uint64_t at_start;
static uint64_t start_addr = UINT64_MAX, stop_addr = UINT64_MAX;
static FILE *out;       /* the out= file or stderr; NULL: the QEMU log */
static int out_is_file; /* out is a file this plugin opened: bare "<n>" lines, closed at exit */

static void on_start(unsigned int vcpu, void *u) {
    (void)vcpu;
    (void)u;
    at_start = count;
}

static void on_stop(unsigned int vcpu, void *u) {
    (void)vcpu;
    (void)u;
    uint64_t n = count - at_start;
    if (out) {
        fprintf(out, out_is_file ? "%llu\n" : "insncount %llu\n", (unsigned long long)n);
        fflush(out);
    } else {
        char line[48];
        snprintf(line, sizeof line, "insncount %llu\n", (unsigned long long)n);
        qemu_plugin_outs(line);
    }
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t a = qemu_plugin_insn_vaddr(insn);
        if (a == start_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (a == stop_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &count, 1);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *u) {
    (void)id;
    (void)u;
    if (out_is_file) fclose(out);
    out = NULL;
    out_is_file = 0;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "start=", 6)) {
            start_addr = strtoull(a + 6, NULL, 0) & ~1ull;
        } else if (!strncmp(a, "stop=", 5)) {
            stop_addr = strtoull(a + 5, NULL, 0) & ~1ull;
        } else if (!strcmp(a, "out=stderr")) {
            out = stderr;
        } else if (!strncmp(a, "out=", 4)) {
            out = fopen(a + 4, "a");
            if (!out) return -1;
            out_is_file = 1;
        } else {
            fprintf(stderr, "insncount: unknown argument %s\n", a);
            return -1;
        }
    }
    if (start_addr == UINT64_MAX || stop_addr == UINT64_MAX) {
        fprintf(stderr, "insncount: give start=ADDR,stop=ADDR\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
