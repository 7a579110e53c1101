"""Train and evaluate a built model on a device (an emulated board booted in QEMU, or a real one at a port).

``DeviceSession(build_dir, port=None)`` boots the build's board in QEMU (or opens ``port``), says HELLO and checks
the firmware's model signature against build.json. ``train(...)`` streams labelled samples in TRAIN_STEP messages
(as many per message as the device's max payload allows), checkpoints the model's state (every SRAM tensor:
trainable slices, optimizer state, PRNG, step counter; read back CRC-checked) into the build directory together
with the position in the data, and ``train(resume=True)`` writes the last checkpoint back (each tensor replaced
all-or-nothing by the protocol's commit) and continues after the last checkpointed sample. The sample order is the
one ``toolkit.emulate.emulate`` uses for the same seed, so int8 weights equal the host emulation's byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

from toolkit.device.build import DeviceBuild, load_build
from toolkit.errors import OdlError

MSG_TRAIN_STEP = 0x30
MSG_EVAL = 0x31
MSG_INFER = 0x40
PROGRESS = "progress.json"
CHECKPOINT = "checkpoint.npz"


class SignatureMismatch(OdlError):
    """The device runs another model (or none) than the build directory describes."""


class TrainingInterrupted(OdlError):
    """The link or the board went away mid-training; progress up to the last checkpoint is saved."""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _data_hash(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).astype(np.int64).tobytes())
    return h.hexdigest()[:16]


class DeviceSession:
    """A link to a device running the firmware of one build directory."""

    def __init__(self, build, port: str | None = None, timeout: float = 2.0, qemu_icount: bool = False,
                 step_timeout: float = 30.0):
        from toolkit.link import SerialLink

        self.build: DeviceBuild = build if isinstance(build, DeviceBuild) else load_build(build)
        self.program = self.build.program
        self.graph = self.build.graph
        self.qemu = None
        self.step_timeout = step_timeout
        if port is None:
            from toolkit.firmware.qemu import QemuBoard

            if not self.build.elf.exists():
                raise OdlError(f"no firmware at {self.build.elf}: run `odl build` again")
            self.qemu = QemuBoard(self.build.board, self.build.elf, icount=qemu_icount).start()
            port = self.qemu.url
        self.port = port
        self.link = SerialLink(port, timeout=timeout)
        try:
            self.hello = self.link.hello()
        except Exception:
            self.close()
            raise
        if self.hello.model_signature != self.build.signature:
            got = self.hello.model_signature
            self.close()
            raise SignatureMismatch(
                f"the device at {port} runs model signature {got:08x} ({'no model' if got == 0 else 'another model'}),"
                f" the build in {self.build.dir} is {self.build.signature:08x}: flash that build's firmware")
        self.max_payload = int(self.hello.max_payload)
        b = self.program.buffers
        self.in_buf, self.out_buf = b[self.program.input], b[self.program.logits]
        self.state = {n: bf for n, bf in sorted(b.items()) if bf.storage == "sram" and bf.tensor_id is not None}

    # ---- lifetime -----------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.link.close()
        except Exception:
            pass
        if self.qemu is not None:
            self.qemu.close()
            self.qemu = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- tensors ------------------------------------------------------------------------------------------
    def read_buffer(self, name: str) -> np.ndarray:
        bf = self.program.buffers[name]
        return self.link.read_tensor(bf.tensor_id, dtype=np.dtype(bf.dtype), shape=bf.shape)

    def write_buffer(self, name: str, value) -> None:
        bf = self.program.buffers[name]
        arr = np.ascontiguousarray(value, dtype=np.dtype(bf.dtype)).reshape(bf.shape)
        self.link.write_tensor(bf.tensor_id, arr.tobytes())

    def read_state(self) -> dict[str, np.ndarray]:
        """Every SRAM tensor of the model (CRC-checked reads), by buffer name."""
        return {n: self.read_buffer(n) for n in self.state}

    def write_state(self, state: dict[str, np.ndarray]) -> None:
        for n in self.state:
            self.write_buffer(n, state[n])

    def initial_state(self) -> dict[str, np.ndarray]:
        return {n: (bf.init if bf.init is not None else np.zeros(bf.shape, bf.dtype)).astype(bf.dtype)
                for n, bf in self.state.items()}

    def trained(self, state: dict | None = None) -> dict[str, np.ndarray]:
        """The trained tensors by IR name (the names and format of ``odl emulate --save``)."""
        state = state if state is not None else {n: self.read_buffer(n) for n in
                                                 {b.name for b in self.program.trained_tensors().values()}}
        return {ir: state[b.name] for ir, b in sorted(self.program.trained_tensors().items())}

    # ---- samples ------------------------------------------------------------------------------------------
    def to_input(self, x) -> np.ndarray:
        from toolkit.emulate import to_model_input

        return to_model_input(self.graph, x, self.in_buf.dtype)

    def _per_message(self, rec: int, res: int) -> int:
        room = self.max_payload - 4
        return max(0, min(room // rec, room // res, 255))

    def logits(self, xin: np.ndarray) -> np.ndarray:
        """Raw logits of model-input samples (NHWC, input dtype) computed on the device (EVAL messages)."""
        out_dt = np.dtype(self.out_buf.dtype)
        nout = int(np.prod(self.out_buf.shape))
        k = self._per_message(self.in_buf.nbytes, self.out_buf.nbytes)
        res = []
        if k == 0:
            for s in xin:
                self.link.write_tensor(self.in_buf.tensor_id, np.ascontiguousarray(s).tobytes())
                p = self.link.request(MSG_INFER, b"", timeout=self.step_timeout)
                res.append(np.frombuffer(p, out_dt).copy())
            return np.stack(res) if res else np.zeros((0, nout), out_dt)
        for i in range(0, len(xin), k):
            chunk = np.ascontiguousarray(xin[i:i + k])
            p = self.link.request(MSG_EVAL, struct.pack("<HH", len(chunk), 0) + chunk.tobytes(),
                                  timeout=self.step_timeout)
            res.append(np.frombuffer(p, out_dt).reshape(len(chunk), nout))
        return np.concatenate(res) if res else np.zeros((0, nout), out_dt)

    def evaluate(self, x, y) -> dict:
        """Accuracy and mean cross-entropy on the device (inference there, metrics as ``toolkit.emulate``)."""
        from toolkit.emulate import _logits_float

        raw = self.logits(self.to_input(x))
        correct, losses = 0, []
        for r, yi in zip(raw, y):
            z = _logits_float(self.graph, self.program, r.reshape(self.out_buf.shape)).reshape(-1).astype(np.float64)
            m = z.max()
            losses.append(float(m + np.log(np.exp(z - m).sum()) - z[int(yi)]))
            correct += int(np.argmax(z) == int(yi))
        n = max(len(y), 1)
        return {"accuracy": correct / n, "loss": float(np.mean(losses)) if losses else float("nan"),
                "samples": int(len(y))}

    def train_chunk(self, xin: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
        """One TRAIN_STEP message: returns (losses, raw logits of each training forward pass)."""
        out_dt = np.dtype(self.out_buf.dtype)
        nout = int(np.prod(self.out_buf.shape))
        n = len(labels)
        if n == 0:
            return np.zeros(0, np.float32), np.zeros((0, nout), out_dt)
        if self._per_message(4 + self.in_buf.nbytes, 4 + self.out_buf.nbytes) == 0:
            if n != 1:
                raise OdlError("samples too large for one message: train them one at a time")
            self.link.write_tensor(self.in_buf.tensor_id, np.ascontiguousarray(xin[0]).tobytes())
            payload = struct.pack("<HHi", 0, 0, int(labels[0]))
        else:
            parts = [struct.pack("<HH", n, 0)]
            for s, lab in zip(xin, labels):
                parts.append(struct.pack("<i", int(lab)) + np.ascontiguousarray(s).tobytes())
            payload = b"".join(parts)
        p = self.link.request(MSG_TRAIN_STEP, payload, timeout=self.step_timeout)
        done = struct.unpack_from("<H", p)[0]
        if done != n:
            raise OdlError(f"TRAIN_STEP: the device ran {done} of {n} steps")
        res = 4 + self.out_buf.nbytes
        losses = np.array([struct.unpack_from("<f", p, 4 + i * res)[0] for i in range(n)], np.float32)
        logits = np.stack([np.frombuffer(p[8 + i * res: 4 + (i + 1) * res], out_dt) for i in range(n)])
        return losses, logits.reshape(n, nout)

    # ---- training -----------------------------------------------------------------------------------------
    def train(self, x, y, epochs: int = 1, eval=None, lr: float | None = None, shuffle: bool = True,
              seed: int = 0, resume: bool = False, checkpoint_every: int = 64, progress: bool = True,
              save=None, host_eval: bool = True, on_chunk=None, batch: int | None = None) -> dict:
        """Fine-tune on the device; returns a history dict like ``toolkit.emulate.emulate`` (see module doc).

        ``checkpoint_every``: read the state back and persist progress after this many samples (and at the end
        of every epoch). ``on_chunk(session, steps)`` is called after every acknowledged TRAIN_STEP message.
        ``batch``: at most this many samples per TRAIN_STEP message (default: as many as the payload holds).
        """
        from toolkit.emulate import _check_xy

        t0 = time.perf_counter()
        d = self.build.dir
        ncls = int(np.prod(self.out_buf.shape))
        x, y = _check_xy(x, y, "train", ncls)
        xin = self.to_input(x)
        dh = _data_hash(x, y)
        key = {"signature": self.build.info["program_signature"], "data": dh, "epochs": int(epochs),
               "shuffle": bool(shuffle), "seed": int(seed), "lr": lr}
        hist: dict = {"precision": self.program.precision, "spec": self.build.info["spec"], "epochs": epochs,
                      "train_samples": int(len(y)), "board": self.build.board, "port": self.port,
                      "plan": {k: self.build.info["plan"][k] for k in ("peak_sram_bytes", "arena_bytes",
                                                                        "flash_bytes")},
                      "signature": f"{self.build.signature:08x}", "history": []}
        ep0, pos0, steps, ep_losses, resumed = 0, 0, 0, [], False
        prog_path, ck_path = d / PROGRESS, d / CHECKPOINT
        if resume and prog_path.exists() and ck_path.exists():
            prog = json.loads(prog_path.read_text())
            if prog.get("key") != key:
                raise OdlError(f"--resume: the progress in {d} is for other data or settings ({prog.get('key')}); "
                               f"run without --resume to start over")
            with np.load(ck_path) as z:
                state = {n: z[n] for n in self.state}
            ep0, pos0, steps = prog["epoch"], prog["pos"], prog["steps"]
            ep_losses = list(prog.get("epoch_losses", []))
            hist["history"] = prog.get("history", [])
            hist["before"] = prog.get("before")
            resumed = True
        else:
            state = self.initial_state()
            if lr is not None:
                for n, bf in self.state.items():
                    if bf.kind == "lr":
                        state[n] = np.full(bf.shape, lr, bf.dtype)
        self.write_state(state)  # the board starts from exactly this state (each tensor committed whole)
        hist["resumed_from"] = {"epoch": ep0, "pos": pos0, "steps": steps} if resumed else None
        host = None
        if eval is not None and host_eval:
            ex, ey = _check_xy(eval[0], eval[1], "eval", ncls)
            host = _HostEval(self.program, self.graph, ex, ey)
            if not resumed:
                hist["before"] = host.evaluate(state)

        def persist(ep, pos, st):
            buf = _npz_bytes(st)
            _atomic_write(ck_path, buf)
            _atomic_write(prog_path, json.dumps({"key": key, "epoch": ep, "pos": pos, "steps": steps,
                                                 "epoch_losses": ep_losses, "history": hist["history"],
                                                 "before": hist.get("before")}).encode())

        if not resumed:
            persist(0, 0, state)
        rng = np.random.default_rng(seed)
        orders = [rng.permutation(len(y)) if shuffle else np.arange(len(y)) for _ in range(epochs)]
        k = max(1, self._per_message(4 + self.in_buf.nbytes, 4 + self.out_buf.nbytes))
        if batch is not None:
            k = max(1, min(k, int(batch)))
        bar = None
        if progress:
            try:
                from tqdm import tqdm

                bar = tqdm(total=epochs * len(y), initial=steps, desc=f"train on {self.build.board}", unit="step",
                           file=sys.stderr, leave=False)
            except ImportError:
                bar = None
        correct = seen = 0
        since = 0
        step_losses: list[float] = []  # every step run by this call, in order
        try:
            for ep in range(ep0, epochs):
                pos = pos0 if ep == ep0 else 0
                if ep != ep0:
                    ep_losses = []
                order = orders[ep]
                while pos < len(order):
                    idx = order[pos:pos + k]
                    try:
                        losses, logits = self.train_chunk(xin[idx], y[idx])
                    except OdlError as e:
                        raise TrainingInterrupted(
                            f"training stopped at epoch {ep + 1}, sample {pos} ({e}); progress up to the last "
                            f"checkpoint is saved in {d}: continue with `odl train --resume`") from e
                    except Exception as e:  # the socket or the serial port went away
                        raise TrainingInterrupted(
                            f"training stopped at epoch {ep + 1}, sample {pos} ({type(e).__name__}: {e}); "
                            f"continue with `odl train --resume`") from e
                    pos += len(idx)
                    steps += len(idx)
                    since += len(idx)
                    ep_losses += [float(v) for v in losses]
                    step_losses += [float(v) for v in losses]
                    correct += int(np.sum(np.argmax(logits, axis=1) == y[idx]))
                    seen += len(idx)
                    if bar is not None:
                        bar.update(len(idx))
                        bar.set_postfix(epoch=ep + 1, loss=f"{np.mean(ep_losses[-50:]):.4f}",
                                        acc=f"{correct / max(seen, 1):.3f}")
                    if on_chunk is not None:
                        on_chunk(self, steps)
                    if since >= checkpoint_every and pos < len(order):
                        persist(ep, pos, self.read_state())
                        since = 0
                st = self.read_state()
                rec = {"epoch": ep + 1, "train_loss": float(np.mean(ep_losses)) if ep_losses else float("nan"),
                       "train_accuracy_running": correct / max(seen, 1)}
                if host is not None:
                    rec["eval"] = host.evaluate(st)
                hist["history"].append(rec)
                ep_losses = []
                persist(ep + 1, 0, st)
                since = 0
        finally:
            if bar is not None:
                bar.close()
        state = self.read_state() if epochs > ep0 or not resumed else state
        if host is not None:
            hist["after"] = hist["history"][-1]["eval"] if hist["history"] else dict(hist["before"])
        hist["steps"] = steps
        hist["step_losses"] = step_losses
        hist["seconds"] = time.perf_counter() - t0
        trained = self.trained(state)
        if save is not None:
            np.savez(save, **trained)
            hist["saved"] = str(save)
        hist["_trained"] = trained
        hist["_state"] = state
        return hist


def _npz_bytes(arrays: dict) -> bytes:
    import io

    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


class _HostEval:
    """The same generated C built for the host: evaluates a device state (weights read back) on the host."""

    def __init__(self, program, graph, x, y):
        from toolkit.emulate import compile_program, to_model_input

        self.program, self.graph = program, graph
        self.x = to_model_input(graph, x, program.buffers[program.input].dtype)
        self.y = y
        _, self.model = compile_program(program)

    def evaluate(self, state: dict) -> dict:
        from toolkit.emulate import evaluate

        self.model.reset(self.program)
        for n, v in state.items():
            self.model.write(n, v)
        return evaluate(self.model, self.program, self.graph, self.x, self.y)
