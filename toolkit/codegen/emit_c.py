"""C emitter: a Program and its Plan -> model.c / model.h (deterministic: same inputs, byte-identical files).

What the generated C holds (``P`` is the prefix, default ``odl_model``):
  - frozen weights and constant params ("flash" buffers) as ``static const`` arrays (Flash);
  - trainable slices, optimizer state, lr and step counter ("sram" buffers) as initialised ``static`` arrays;
  - one ``static uint8_t P_arena[P_ARENA_BYTES]`` (16-byte aligned) with every "arena" buffer and every step's
    scratch at the offset the planner chose (the infer and train layouts share it);
  - "io" buffers: the caller's sample pointer, the caller's output (infer) and small static arrays for the label,
    loss and the train-time logits;
  - every Struct / Array argument as static const data;
  - ``P_infer(input, output)`` and ``P_train_step(sample, label, loss)``: one kernel call per Step, in order,
    each status checked; on error the step is recorded (``P_error_step()``) and its status returned;
  - a tensor table (id, name, data, nbytes, dtype, writable) of every non-arena buffer for the serial protocol;
  - the model signature (hash of graph, spec, precision and steps) as macros and ``P_signature()``;
  - a canary build (``-D<P upper>_CANARY``): before each step every byte the step must not write (its read-only
    arguments and every other live buffer, free and guard arena bytes, the guard past the arena end, SRAM / io
    buffers it does not write) is hashed per region, and re-checked after it; a change returns ``P_ERR_CANARY`` and
    names the step and the region. What a step may write comes from ``Program.writes`` / ``infer_writes`` when the
    Program fills them, else every buffer the step names.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError
from toolkit.host.build import PUBLIC_HEADERS
from toolkit.plan.planner import arg_kind

CTYPE = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "uint32": "uint32_t",
         "float32": "float", "float16": "odl_f16"}
# dtype codes of the tensor table (also used by the serial protocol side)
DTYPE_CODE = {"int8": 0, "uint8": 1, "int16": 2, "int32": 3, "uint32": 4, "float16": 5, "float32": 6}
CANARY_GUARD_BYTES = 16  # guard past the arena end in the canary build


class CodegenError(OdlError):
    """A Program the C emitter cannot express (unknown argument kind, missing buffer, unknown kernel)."""


# ---------------------------------------------------------------------------------------------- literals ----

def c_float(v) -> str:
    f = float(np.float32(v))
    if math.isnan(f):
        return '__builtin_nanf("")'
    if math.isinf(f):
        return "__builtin_inff()" if f > 0 else "(-__builtin_inff())"
    s = "%.9g" % f
    if "e" not in s and "." not in s and "n" not in s:
        s += ".0"
    return s + "f"


def c_int(v) -> str:
    v = int(v)
    if v == -(2 ** 31):
        return "(-2147483647 - 1)"
    if v >= 2 ** 31:
        return f"{v}u"
    return str(v)


def c_string(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _values(dtype: str, arr: np.ndarray) -> list[str]:
    flat = np.ascontiguousarray(arr).reshape(-1)
    if dtype in ("float32", "float16") or dtype == "float":
        return [c_float(x) for x in flat.astype(np.float32).tolist()]
    return [c_int(x) for x in flat.tolist()]


def _array_body(vals: list[str], per_line: int = 16, indent: str = "    ") -> str:
    if not vals:
        return "0"
    lines = [indent + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return "\n" + ",\n".join(lines) + "\n"


def _ident(s: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", s)
    return out if not out[:1].isdigit() else "_" + out


# ---------------------------------------------------------------------------------------------- headers ----

def _kernel_headers(kernels: set[str]) -> list[str]:
    """The public headers (odl/xxx.h) that declare the given kernels; error for a kernel no header declares."""
    texts = {h.name: h.read_text() for h in sorted(PUBLIC_HEADERS.glob("*.h"))}
    out, missing = set(), []
    for k in sorted(kernels):
        pat = re.compile(r"\b" + re.escape(k) + r"\s*\(")
        found = [n for n, t in texts.items() if pat.search(t)]
        if not found:
            missing.append(k)
        else:
            out.add(found[0])
    if missing:
        raise CodegenError(f"no header in csrc/include/odl declares {', '.join(missing)}")
    return sorted(out)


_STATUS_CACHE: dict[str, bool] = {}


def _kernel_returns_status(kernel: str) -> bool:
    if kernel in _STATUS_CACHE:
        return _STATUS_CACHE[kernel]
    texts = "\n".join(h.read_text() for h in sorted(PUBLIC_HEADERS.glob("*.h")))
    m = re.search(r"^\s*([A-Za-z_][\w \t\*]*?)\b" + re.escape(kernel) + r"\s*\(", texts, re.M)
    _STATUS_CACHE[kernel] = m is None or "odl_status" in m.group(1)
    return _STATUS_CACHE[kernel]


# ---------------------------------------------------------------------------------------------- emitter ----

class _Emitter:
    def __init__(self, program, plan, prefix: str):
        self.p = program
        self.plan = plan
        self.P = prefix
        self.U = prefix.upper()
        self.static: list[str] = []  # static const data of Struct / Array arguments
        self.nconst = 0
        if "infer" not in plan.layouts:
            raise CodegenError("the plan has no infer layout; plan with toolkit.plan.plan_memory()")
        for name, b in program.buffers.items():
            if b.dtype not in CTYPE:
                raise CodegenError(f"buffer {name}: dtype {b.dtype} has no C type")

    # -- symbols ---------------------------------------------------------------------------------------------
    def sym(self, name: str) -> str:
        return f"{self.P}_{_ident(name)}"

    def io_ptr(self, name: str) -> str:
        return f"{self.P}_io_{_ident(name)}"

    def io_storage(self, name: str) -> str:
        return f"{self.P}_iobuf_{_ident(name)}"

    # -- argument expressions ----------------------------------------------------------------------------------
    def const_array(self, ctype: str, values, hint: str) -> str:
        vals = list(values)
        if not vals:
            return "NULL"
        name = f"{self.P}_c{self.nconst}_{hint}"
        self.nconst += 1
        if ctype in ("float", "float32"):
            body = [c_float(v) for v in vals]
        elif ctype in ("odl_f16", "float16"):
            body = [c_float(v) for v in vals]
        else:
            body = [c_int(v) for v in vals]
        self.static.append(f"static const {ctype} {name}[{len(vals)}] = {{{_array_body(body)}}};\n")
        return name

    def struct_init(self, fields: dict, hint: str) -> str:
        parts = []
        for k, v in fields.items():
            parts.append(f".{k} = {self.field_value(v, hint + '_' + k)}")
        return "{" + ", ".join(parts) + "}"

    def field_value(self, v, hint: str) -> str:
        kind = arg_kind(v)
        if isinstance(v, dict):
            return self.struct_init(v, hint)
        if kind == "Array":
            return self.const_array(v.ctype, v.values, _ident(hint))
        if kind == "Struct":
            return self.struct_init(v.fields, hint)
        if isinstance(v, (bool, np.bool_)):
            return str(int(v))
        if isinstance(v, (int, np.integer)):
            return c_int(v)
        if isinstance(v, (float, np.floating)):
            return c_float(v)
        if isinstance(v, (list, tuple)):
            return "{" + ", ".join(self.field_value(x, hint) for x in v) + "}"
        raise CodegenError(f"struct field value {v!r} ({hint}) is not an int, float, dict or Array")

    def buf_expr(self, a, mode: str, where: str) -> str:
        b = self.p.buffers.get(a.name)
        if b is None:
            raise CodegenError(f"{where} names unknown buffer {a.name!r}")
        ct = CTYPE[b.dtype]
        off = int(a.offset)
        if off < 0 or off > b.size:
            raise CodegenError(f"{where}: offset {off} outside buffer {a.name} of {b.size} elements")
        if b.storage == "arena":
            base = self.plan.layouts[mode].offsets[a.name]
            byte = base + off * np.dtype(b.dtype).itemsize
            return f"({ct} *)({self.P}_arena + {byte})"
        if b.storage == "io":
            e = self.io_ptr(a.name)
        elif b.storage == "flash":
            e = f"({ct} *){self.sym(a.name)}"  # drop const: kernels take inputs as const anyway
        else:
            e = self.sym(a.name)
        return f"({e} + {off})" if off else e

    def call(self, mode: str, i: int, st) -> str:
        where = f"{mode} step {i} ({st.kernel}, node {st.node})"
        args = []
        for j, a in enumerate(st.args):
            k = arg_kind(a)
            hint = f"{mode[0]}{i}_{j}"
            if k == "Buf":
                args.append(self.buf_expr(a, mode, where))
            elif k == "Int":
                args.append(c_int(a.v))
            elif k == "Float":
                args.append(c_float(a.v))
            elif k == "Null":
                args.append("NULL")
            elif k == "Array":
                args.append(self.const_array(a.ctype, a.values, hint))
            elif k == "Struct":
                name = f"{self.P}_s{hint}"
                self.static.append(f"static const {a.ctype} {name} = {self.struct_init(a.fields, hint)};\n")
                args.append("&" + name)
            elif k == "Scratch":
                if int(a.nbytes) == 0:
                    args.append("NULL")
                else:
                    off = self.plan.layouts[mode].scratch[(i, j)]
                    args.append(f"(void *)({self.P}_arena + {off})")
            elif k == "ScratchSize":
                args.append(c_int(a.nbytes))
            else:
                raise CodegenError(f"{where}: argument {j} has unknown kind {k}")
        return f"{st.kernel}({', '.join(args)})"

    # -- canary --------------------------------------------------------------------------------------------
    def protected_regions(self, mode: str, i: int, st) -> list[tuple[str, str, int]]:
        """(label, base expression, length) of every region step i of ``mode`` must not write."""
        lay = self.plan.layouts[mode]
        named = {a.name for a in st.args if arg_kind(a) == "Buf"}
        writes = self.p.access(mode)[0] if hasattr(self.p, "access") else {}
        if i in writes:  # the Program says which buffers the step writes: everything else is protected
            named = set(writes[i]) & named
        own = [r for r in lay.regions
               if (r.name in named) or (r.name.startswith(f"scratch:{mode}:{i}:"))]
        live = [r for r in lay.regions if r.first <= i <= r.last and r not in own]
        end = self.plan.arena_bytes
        cuts = {0, end}
        for r in own + live:
            cuts |= {r.offset, r.offset + r.nbytes, r.offset + r.extent}
        cuts = sorted(c for c in cuts if 0 <= c <= end)
        segs: list[list] = []
        for a, b in zip(cuts, cuts[1:]):
            if b <= a:
                continue
            if any(r.offset <= a and b <= r.offset + r.nbytes for r in own):
                label = None
            else:
                lv = [r for r in live if r.offset <= a and b <= r.offset + r.nbytes]
                if lv:
                    label = f"arena buffer {lv[0].name}"
                else:
                    gd = [r for r in own + live if r.offset + r.nbytes <= a and b <= r.offset + r.extent]
                    label = f"guard after {gd[0].name}" if gd else "free arena bytes"
            if segs and segs[-1][0] == label and segs[-1][2] == a:
                segs[-1][2] = b
            else:
                segs.append([label, a, b])
        out = [(lab, f"{self.P}_arena + {a}", b - a) for lab, a, b in segs if lab is not None]
        out.append(("guard past the arena end", f"{self.P}_arena + {end}", CANARY_GUARD_BYTES))
        for name, b in self.p.buffers.items():
            if name in named or b.storage == "flash" or b.nbytes == 0:
                continue
            if b.storage == "sram":
                out.append((f"SRAM buffer {name}", f"(const uint8_t *){self.sym(name)}", b.nbytes))
            elif b.storage == "io" and name != self.p.input:
                out.append((f"io buffer {name}", f"(const uint8_t *){self.io_storage(name)}", b.nbytes))
        return out

    # -- files ---------------------------------------------------------------------------------------------
    def buffer_decls(self) -> str:
        out = []
        for name in sorted(self.p.buffers):
            b = self.p.buffers[name]
            ct = CTYPE[b.dtype]
            n = max(b.size, 1)
            if b.storage == "flash":
                init = b.init if b.init is not None else np.zeros(b.shape, b.dtype)
                out.append(f"/* {name}: {b.kind or 'const'} {list(b.shape)} {b.dtype}"
                           f"{', IR ' + b.ir_name if b.ir_name else ''} (Flash) */\n"
                           f"static const {ct} {self.sym(name)}[{n}] __attribute__((aligned(16))) = "
                           f"{{{_array_body(_values(b.dtype, init))}}};\n")
            elif b.storage == "sram":
                body = _array_body(_values(b.dtype, b.init)) if b.init is not None else "0"
                out.append(f"/* {name}: {b.kind or 'state'} {list(b.shape)} {b.dtype}"
                           f"{', IR ' + b.ir_name if b.ir_name else ''} (SRAM) */\n"
                           f"static {ct} {self.sym(name)}[{n}] __attribute__((aligned(16))) = {{{body}}};\n")
            elif b.storage == "io":
                if name != self.p.input:
                    out.append(f"static {ct} {self.io_storage(name)}[{n}] __attribute__((aligned(16)));\n")
                out.append(f"static {ct} *{self.io_ptr(name)}; /* io {name}: {list(b.shape)} {b.dtype} */\n")
        return "\n".join(out)

    def tensor_table(self) -> tuple[str, int]:
        rows = []
        for name in sorted(self.p.buffers, key=lambda n: (self.p.buffers[n].tensor_id is None,
                                                         self.p.buffers[n].tensor_id or 0, n)):
            b = self.p.buffers[name]
            if b.storage == "arena":
                continue
            tid = -1 if b.tensor_id is None else int(b.tensor_id)
            if b.storage == "io":
                data = "NULL" if name == self.p.input else f"(void *){self.io_storage(name)}"
            else:
                data = f"(void *){self.sym(name)}"
            writable = 0 if b.storage == "flash" else 1
            rows.append(f"    {{{tid}, {c_string(b.ir_name or name)}, {c_string(name)}, {data}, {b.nbytes}u, "
                        f"{DTYPE_CODE[b.dtype]}, {writable}}},")
        body = "\n".join(rows) if rows else "    {-1, \"\", \"\", NULL, 0u, 0, 0},"
        return (f"static const {self.P}_tensor {self.P}_tensors[] = {{\n{body}\n}};\n", len(rows))

    def function(self, mode: str) -> str:
        P, U = self.P, self.U
        steps = self.p.train if mode == "train" else self.p.infer
        lines = []
        canary_tables = []
        for i, st in enumerate(steps):
            call = self.call(mode, i, st)
            desc = c_string(f"{mode} step {i}: {st.kernel} ({st.phase}, node {st.node})")
            regs = self.protected_regions(mode, i, st)
            tname = f"{P}_guard_{mode}{i}"
            canary_tables.append(
                f"static const {P}_region {tname}[{len(regs)}] = {{\n"
                + "\n".join(f"    {{{base}, {n}u, {c_string(lab)}}}," for lab, base, n in regs) + "\n};\n")
            lines.append(f"    /* {i}: {st.phase} {st.node} */")
            lines.append(f"#ifdef {U}_CANARY\n    {P}_canary_take({tname}, {len(regs)});\n#endif")
            if _kernel_returns_status(st.kernel):
                lines.append(f"    st = {call};")
                lines.append(f"    if (st != ODL_OK) return {P}_fail((int32_t)st, {desc}, NULL);")
            else:
                lines.append(f"    (void){call};")
            lines.append(f"#ifdef {U}_CANARY\n    r = {P}_canary_check({tname}, {len(regs)});\n"
                         f"    if (r >= 0) return {P}_fail({P.upper()}_ERR_CANARY, {desc}, {tname}[r].label);\n"
                         f"#endif")
        io = [n for n, b in sorted(self.p.buffers.items()) if b.storage == "io"]
        if mode == "infer":
            head = [f"int32_t {P}_infer(const void *input, void *output)", "{"]
            setup = []
            for n in io:
                ct = CTYPE[self.p.buffers[n].dtype]
                if n == self.p.input:
                    setup.append(f"    {self.io_ptr(n)} = ({ct} *)input;")
                elif n == self.p.logits:
                    setup.append(f"    {self.io_ptr(n)} = ({ct} *)output;")
                else:
                    setup.append(f"    {self.io_ptr(n)} = {self.io_storage(n)};")
            setup.append(f"    if (input == NULL || output == NULL) return {P}_fail((int32_t)ODL_ERR_ARG, "
                         f"\"infer: NULL input or output\", NULL);")
            tail = ["    return 0;", "}"]
        else:
            head = [f"int32_t {P}_train_step(const void *sample, int32_t label, float *loss)", "{"]
            setup = []
            for n in io:
                ct = CTYPE[self.p.buffers[n].dtype]
                if n == self.p.input:
                    setup.append(f"    {self.io_ptr(n)} = ({ct} *)sample;")
                else:
                    setup.append(f"    {self.io_ptr(n)} = {self.io_storage(n)};")
            setup.append(f"    if (sample == NULL) return {P}_fail((int32_t)ODL_ERR_ARG, "
                         f"\"train: NULL sample\", NULL);")
            lab = self.p.buffers.get(self.p.label)
            if lab is not None and lab.storage == "io":
                setup.append(f"    {self.io_storage(self.p.label)}[0] = ({CTYPE[lab.dtype]})label;")
            else:
                setup.append("    (void)label;")
            lossb = self.p.buffers.get(self.p.loss)
            tail = []
            if lossb is not None and lossb.storage == "io":
                tail.append(f"    if (loss != NULL) *loss = (float){self.io_storage(self.p.loss)}[0];")
            else:
                tail.append("    (void)loss;")
            tail += ["    return 0;", "}"]
        decl = ["    odl_status st;", f"#ifdef {U}_CANARY\n    int32_t r;\n#endif", f"    {P}_error_clear();"]
        if not any(_kernel_returns_status(s.kernel) for s in steps):
            decl[0] = "    odl_status st = ODL_OK; (void)st;"
        body = "\n".join(head + decl + setup + lines + tail) + "\n"
        return body, "".join(canary_tables)


def generate(program, plan, out_dir, prefix: str = "odl_model") -> tuple[Path, Path]:
    """Write ``model.c`` and ``model.h`` for ``program`` laid out by ``plan`` into ``out_dir``; return their paths.

    ``plan`` must come from ``plan_memory(program, mode="train")`` (or mode "infer": then ``P_train_step``
    returns ODL_ERR_UNSUPPORTED). Output depends only on the program and the plan.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise CodegenError(f"prefix {prefix!r} is not a C identifier")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    e = _Emitter(program, plan, prefix)
    P, U = prefix, prefix.upper()
    sig = program.signature() if hasattr(program, "signature") else "0" * 16
    sig16 = sig[:16]
    sig32 = int(sig[:8], 16)
    has_train = "train" in plan.layouts
    kernels = {s.kernel for s in program.infer} | ({s.kernel for s in program.train} if has_train else set())
    headers = _kernel_headers(kernels)
    infer_fn, infer_guard = e.function("infer")
    if has_train:
        train_fn, train_guard = e.function("train")
    else:
        train_fn = (f"int32_t {P}_train_step(const void *sample, int32_t label, float *loss)\n{{\n"
                    f"    (void)sample; (void)label; (void)loss;\n"
                    f"    return {P}_fail((int32_t)ODL_ERR_UNSUPPORTED, \"train: planned for inference only\", "
                    f"NULL);\n}}\n")
        train_guard = ""
    table, ntensors = e.tensor_table()
    inb = program.buffers.get(program.input)
    outb = program.buffers.get(program.logits)
    graph_name = getattr(program.graph, "name", "model")
    in_shape = ", ".join(map(str, inb.shape)) if inb is not None else ""
    ntrain = len(program.train) if has_train else 0

    h = f"""/* {prefix}.h - generated by odl (toolkit.codegen) from graph {graph_name!s}, precision {program.precision}.
 * Do not edit: regenerate. Also read by cffi as a cdef (system includes and macros behind ODL_CDEF). */
#ifndef {U}_H_
#define {U}_H_

#include "odl/common.h"

#ifndef ODL_CDEF
#define {U}_SIGNATURE "{sig16}"
#define {U}_SIGNATURE_U32 0x{sig32:08x}u
#define {U}_ARENA_BYTES {plan.arena_bytes}
#define {U}_INPUT_BYTES {inb.nbytes if inb is not None else 0}
#define {U}_OUTPUT_BYTES {outb.nbytes if outb is not None else 0}
#define {U}_TENSOR_COUNT {ntensors}
#endif

/* Status returned by {P}_infer / {P}_train_step besides the kernels' odl_status codes. */
typedef enum {{ {U}_ERR_CANARY = -16 }} {P}_error_code;

/* One entry of the tensor table: every buffer outside the arena (weights, trainable slices, optimizer state, io).
 * id is the serial protocol's tensor id (-1: none); dtype: 0 int8, 1 uint8, 2 int16, 3 int32, 4 uint32,
 * 5 float16, 6 float32. data is NULL for the sample input (owned by the caller). */
typedef struct {{
    int32_t id;
    const char *name;   /* the tensor's name in the user's model (IR name), else the buffer name */
    const char *buffer; /* the Program buffer name */
    void *data;
    uint32_t nbytes;
    uint8_t dtype;
    uint8_t writable;
}} {P}_tensor;

/* Inference on one sample: input [{in_shape}] -> output (logits). 0 or an error code. */
int32_t {P}_infer(const void *input, void *output);
/* One training step (forward, loss, backward, updates) on one sample; *loss (may be NULL) gets the loss. */
int32_t {P}_train_step(const void *sample, int32_t label, float *loss);
/* Bytes of the static arena this build allocates (the planner's arena; the canary guard not counted). */
size_t {P}_arena_size(void);
/* Model signature: hash of graph, update spec, precision and steps. */
uint32_t {P}_signature(void);
const char *{P}_signature_str(void);
/* Number of entries of the tensor table, entry i, and the entry with protocol id `id` (NULL if none). */
int32_t {P}_tensor_count(void);
const {P}_tensor *{P}_tensor_at(int32_t i);
const {P}_tensor *{P}_tensor_by_id(int32_t id);
/* After a failed call: the failing step ("train step 3: kernel (phase, node n)"), its status, and for a canary
 * failure the region it wrote ("arena buffer x", "guard after y", ...); NULL/0 when the last call succeeded. */
const char *{P}_error_step(void);
int32_t {P}_error_status(void);
const char *{P}_error_region(void);
/* 1 when built with {U}_CANARY. */
int32_t {P}_canary_enabled(void);

#endif /* {U}_H_ */
"""

    includes = "".join(f'#include "odl/{n}"\n' for n in headers)
    c = f"""/* {prefix}.c - generated by odl (toolkit.codegen) from graph {graph_name!s}, precision {program.precision},
 * signature {sig16}. Do not edit: regenerate.
 * {len(program.infer)} infer steps, {ntrain} train steps, arena {plan.arena_bytes} bytes
 * (planned by toolkit.plan, {plan.alignment}-byte aligned offsets, guard {plan.guard_bytes} bytes per region). */
#include <stddef.h>
#include <stdint.h>
#include "model.h"
{includes}
#ifdef {U}_CANARY
#define {U}_GUARD_BYTES {CANARY_GUARD_BYTES}
#else
#define {U}_GUARD_BYTES 0
#endif

/* The arena: every transient buffer (activations, saved tensors, masks, gradients, scratch) at its planned offset. */
static uint8_t {P}_arena[{U}_ARENA_BYTES + {U}_GUARD_BYTES] __attribute__((aligned(16)));

/* ---- buffers ---- */
{e.buffer_decls()}
/* ---- constant kernel arguments ---- */
@@STATIC@@
/* ---- errors ---- */
static const char *{P}_err_step;
static const char *{P}_err_region;
static int32_t {P}_err_status;

static void {P}_error_clear(void)
{{
    {P}_err_step = NULL;
    {P}_err_region = NULL;
    {P}_err_status = 0;
}}

static int32_t {P}_fail(int32_t status, const char *step, const char *region)
{{
    {P}_err_step = step;
    {P}_err_region = region;
    {P}_err_status = status;
    return status;
}}

const char *{P}_error_step(void) {{ return {P}_err_step; }}
int32_t {P}_error_status(void) {{ return {P}_err_status; }}
const char *{P}_error_region(void) {{ return {P}_err_region; }}

#ifdef {U}_CANARY
typedef struct {{
    const uint8_t *base;
    uint32_t len;
    const char *label;
}} {P}_region;

#define {U}_MAX_REGIONS @@MAXREG@@
static uint32_t {P}_canary_hash[{U}_MAX_REGIONS];

static uint32_t {P}_fnv1a(const uint8_t *p, uint32_t n)
{{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {{
        h ^= p[i];
        h *= 16777619u;
    }}
    return h;
}}

static void {P}_canary_take(const {P}_region *r, int32_t n)
{{
    for (int32_t i = 0; i < n; i++) {P}_canary_hash[i] = {P}_fnv1a(r[i].base, r[i].len);
}}

/* Index of the first region whose bytes changed since {P}_canary_take, or -1. */
static int32_t {P}_canary_check(const {P}_region *r, int32_t n)
{{
    for (int32_t i = 0; i < n; i++)
        if ({P}_fnv1a(r[i].base, r[i].len) != {P}_canary_hash[i]) return i;
    return -1;
}}

int32_t {P}_canary_enabled(void) {{ return 1; }}

/* Per step: the regions it must leave untouched. */
{infer_guard}{train_guard}#else
int32_t {P}_canary_enabled(void) {{ return 0; }}
#endif

/* ---- inference ---- */
{infer_fn}
/* ---- training step ---- */
{train_fn}
/* ---- introspection ---- */
{table}
size_t {P}_arena_size(void) {{ return sizeof({P}_arena) - {U}_GUARD_BYTES; }}
uint32_t {P}_signature(void) {{ return {U}_SIGNATURE_U32; }}
const char *{P}_signature_str(void) {{ return {U}_SIGNATURE; }}
int32_t {P}_tensor_count(void) {{ return {U}_TENSOR_COUNT; }}

const {P}_tensor *{P}_tensor_at(int32_t i)
{{
    return (i >= 0 && i < {U}_TENSOR_COUNT) ? &{P}_tensors[i] : NULL;
}}

const {P}_tensor *{P}_tensor_by_id(int32_t id)
{{
    for (int32_t i = 0; i < {U}_TENSOR_COUNT; i++)
        if (id >= 0 && {P}_tensors[i].id == id) return &{P}_tensors[i];
    return NULL;
}}
"""
    maxreg = 1
    for m in re.finditer(rf"static const {P}_region {P}_guard_\w+\[(\d+)\]", c):
        maxreg = max(maxreg, int(m.group(1)))
    c = c.replace("@@STATIC@@", "".join(e.static)).replace("@@MAXREG@@", str(maxreg))
    c_path, h_path = out_dir / "model.c", out_dir / "model.h"
    _write_if_changed(c_path, c)
    _write_if_changed(h_path, h)
    return c_path, h_path


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically (temp file + rename: a concurrent build never reads half a file), only if it changed."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
