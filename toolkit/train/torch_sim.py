"""A PyTorch simulation of an int8 training Program: fake-quant forward, autograd backward, the same QAS updates.

Independent of the C kernels: the forward runs the int8 graph in float32 torch with every tensor fake-quantized to
its int8 grid (round half away from zero, the fused activation as a clamp), the backward is torch.autograd with a
straight-through estimator (zero outside a fused relu/relu6 clamp, like odl_act_backward_s8), and the updates follow
the Program's own update steps in order — the same layers, channels, chunks, QAS scales (or unit scales without QAS),
momentum, weight decay and rounding mode (stochastic rounding with the same xorshift32 stream). It is meant to reach
the same accuracy as the int8 Program (not the same bits: TFLite's fixed-point requantization differs from float
rounding by one step now and then).

    sim = TorchInt8Sim(program); loss = sim.train_step(x_q, label); logits = sim.infer(x_q)
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import OdlError
from toolkit.train.program import Buf, Null, Program

ACT = ("relu", "relu6")


def _round_half_away(t):
    import torch

    return torch.sign(t) * torch.floor(torch.abs(t) + 0.5)


def _xorshift32(state: int) -> int:
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state & 0xFFFFFFFF


class TorchInt8Sim:
    def __init__(self, program: Program):
        if program.precision != "int8":
            raise OdlError("TorchInt8Sim simulates int8 programs only")
        self.p = program
        self.g = program.graph
        self.params = {t.name: np.asarray(t.data).copy() for t in self.g.params()}
        self.state: dict[str, np.ndarray] = {n: np.array(b.init, copy=True) for n, b in program.buffers.items()
                                             if b.storage == "sram" and b.init is not None}
        self.updates = [s for s in program.train if s.phase == "update" and s.kernel.startswith("odl_sgd_qas")]
        self.logits_t = program.meta["logits_tensor"]

    # ---- forward ----------------------------------------------------------------------------------------------
    def _q(self, name):
        t = self.g.tensor(name)
        return float(np.float32(t.quant.scale[0])), int(t.quant.zero_point[0])

    def _fq(self, y, name: str, activation: str | None):
        """Fake-quantize y (real) to tensor `name`'s grid; STE, masked outside a fused activation's clamp."""
        import torch

        from toolkit.ir.interp import activation_range

        s, zp = self._q(name)
        lo, hi = activation_range(activation or "none", s, zp)
        q = torch.clamp(_round_half_away(y.detach() / s) + zp, lo, hi)
        out = y + (s * (q - zp) - y).detach()
        if activation in ACT:
            mask = ((q > lo) & (q < hi)).to(y.dtype)
            out = out * mask + (out * (1 - mask)).detach()
        return out

    def _forward(self, x_q, leaves: dict):
        import torch
        import torch.nn.functional as F

        g = self.g
        s, zp = self._q(g.inputs[0])
        x = torch.as_tensor(np.asarray(x_q, np.float32).reshape(g.tensor(g.inputs[0]).shape))
        env = {g.inputs[0]: s * (x - zp)}
        for n in g.nodes:
            a = n.attrs
            ins = [env.get(i) for i in n.inputs]
            out = n.outputs[0]
            act = a.get("activation", "none") if isinstance(a.get("activation", None), str) else "none"
            if n.op in ("conv2d", "depthwise_conv2d", "fully_connected"):
                w = leaves[n.inputs[1]]
                b = leaves.get(n.inputs[2]) if len(n.inputs) > 2 else None
                if n.op == "fully_connected":
                    y = ins[0].reshape(1, -1) @ w.T
                    if b is not None:
                        y = y + b
                else:
                    pt, pb, pl, pr = a["pad"]
                    xc = F.pad(ins[0].permute(0, 3, 1, 2), (pl, pr, pt, pb))
                    if n.op == "conv2d":
                        wt = w.permute(0, 3, 1, 2)
                        groups = 1
                    else:
                        wt = w.permute(3, 0, 1, 2)
                        groups = ins[0].shape[3]
                    y = F.conv2d(xc, wt, b, stride=tuple(a["stride"]), dilation=tuple(a["dilation"]),
                                 groups=groups).permute(0, 2, 3, 1)
                y = self._fq(y, out, act)
            elif n.op == "add":
                y = self._fq(ins[0] + ins[1], out, act)
            elif n.op in ("relu", "relu6"):
                y = self._fq(ins[0], out, n.op)
            elif n.op in ("avg_pool2d", "max_pool2d"):
                pt, pb, pl, pr = a["pad"]
                xc = ins[0].permute(0, 3, 1, 2)
                k, st = tuple(a["kernel"]), tuple(a["stride"])
                if n.op == "max_pool2d":
                    y = F.max_pool2d(F.pad(xc, (pl, pr, pt, pb), value=-1e30), k, st)
                else:
                    num = F.avg_pool2d(F.pad(xc, (pl, pr, pt, pb)), k, st)
                    den = F.avg_pool2d(F.pad(torch.ones_like(xc[:, :1]), (pl, pr, pt, pb)), k, st)
                    y = num / den
                y = self._fq(y.permute(0, 2, 3, 1), out, None)
            elif n.op == "global_avg_pool":
                y = self._fq(ins[0].mean(dim=(1, 2), keepdim=True), out, None)
            elif n.op == "reshape":
                y = ins[0].reshape(tuple(a["shape"]))
            elif n.op == "softmax":
                y = ins[0]
            else:
                raise OdlError(f"node {n.name}: op {n.op} is not simulated")
            env[out] = y
        return env[self.logits_t]

    def _leaves(self, grad: bool):
        import torch

        leaves = {}
        for n in self.g.nodes:
            if n.op not in ("conv2d", "depthwise_conv2d", "fully_connected"):
                continue
            wt = self.g.tensor(n.inputs[1])
            sw = np.asarray(wt.quant.scale, np.float32)
            axis = 3 if n.op == "depthwise_conv2d" else 0
            shape = [1] * wt.data.ndim
            shape[axis] = -1
            w = torch.tensor(self.params[n.inputs[1]].astype(np.float32) * sw.reshape(shape), requires_grad=grad)
            leaves[n.inputs[1]] = w
            if len(n.inputs) > 2:
                sx, _ = self._q(n.inputs[0])
                sb = (sw * np.float32(sx)).astype(np.float32)
                leaves[n.inputs[2]] = torch.tensor(self.params[n.inputs[2]].astype(np.float32) * sb,
                                                   requires_grad=grad)
        return leaves

    def infer(self, x_q) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._forward(x_q, self._leaves(False)).numpy().reshape(-1)

    # ---- training ---------------------------------------------------------------------------------------------
    def train_step(self, x_q, label: int, lr: float | None = None) -> float:
        import torch
        import torch.nn.functional as F

        leaves = self._leaves(True)
        z = self._forward(x_q, leaves).reshape(1, -1)
        loss = F.cross_entropy(z, torch.tensor([int(label)]))
        loss.backward()
        rate = np.float32(self.state[self.p.lr][0] if lr is None else lr)
        for st in self.updates:
            self._apply(st, leaves, rate)
        return float(loss.detach())

    def _apply(self, st, leaves, rate):
        bias = st.kernel.startswith("odl_sgd_qas_update_bias")
        a = st.args
        pname = self.p.buffers[a[0].name].ir_name
        node = next(n for n in self.g.nodes if pname in n.inputs)
        t = self.g.tensor(pname)
        if bias:
            out_c, ws, sx, chans, count = a[1].v, np.asarray(a[2].values, np.float32), np.float32(a[3].v), a[4], a[5].v
            mom, master, rng, prm = a[7], a[8], a[9], a[10]
            k, cs, es = 1, 1, 1
            scale = (ws * sx).astype(np.float32)
        else:
            out_c, k, cs, es = a[1].v, a[2].v, a[3].v, a[4].v
            ws, chans, count = np.asarray(a[5].values, np.float32), a[6], a[7].v
            mom, master, rng, prm = a[9], a[10], a[11], a[12]
            scale = ws
        ch = np.arange(count) if isinstance(chans, Null) else np.asarray(chans.values)
        # gradient w.r.t. the stored integers: s * dL/d(real), s the true scale (QAS or not)
        wt = self.g.tensor(node.inputs[1])
        sw = np.asarray(wt.quant.scale, np.float32)
        sw = np.full(out_c, sw[0], np.float32) if sw.size == 1 else sw
        true_s = (sw * np.float32(self._q(node.inputs[0])[0])).astype(np.float32) if bias else sw
        g_real = leaves[pname].grad.numpy().reshape(-1)
        idx = (ch[:, None] * cs + np.arange(k)[None, :] * es).reshape(-1)
        grad = (g_real[idx].reshape(len(ch), k) * true_s[ch][:, None]).astype(np.float32)
        f = prm.fields
        momentum, wd, rounding = np.float32(f["momentum"]), np.float32(f["weight_decay"]), int(f["rounding"])
        flat = self.params[pname].reshape(-1)
        buf = self.state[mom.name][mom.offset:mom.offset + len(ch) * k].reshape(len(ch), k) \
            if isinstance(mom, Buf) else None
        mst = self.state[master.name][master.offset:master.offset + len(ch) * k].reshape(len(ch), k) \
            if isinstance(master, Buf) else None
        lo, hi = (np.float32(-2147483648.0), np.float32(2147483520.0)) if bias else (np.float32(-127), np.float32(127))
        inv_s2 = (np.float32(1.0) / (scale[ch] * scale[ch])).astype(np.float32)[:, None]
        w = mst if rounding == 2 else flat[idx].reshape(len(ch), k).astype(np.float32)
        gg = (grad * inv_s2 + wd * w).astype(np.float32)
        if momentum != 0:
            gg = (momentum * buf + gg).astype(np.float32)
            buf[...] = gg
        d = (-(rate * gg)).astype(np.float32)
        if rounding == 2:
            m = np.clip((mst + d).astype(np.float32), lo, hi)
            mst[...] = m
            new = np.sign(m) * np.floor(np.abs(m) + np.float32(0.5))
        else:
            if rounding == 1:
                u = np.empty(d.size, np.float32)
                state = int(self.state[rng.name][0])
                for i in range(d.size):   # one xorshift32 draw per element, in slice order
                    state = _xorshift32(state)
                    u[i] = np.float32(state >> 8) * np.float32(1.0 / 16777216.0)
                self.state[rng.name][0] = state
                fl = np.floor(d)
                step = np.where(u.reshape(d.shape) < (d - fl).astype(np.float32), fl + 1, fl)
            else:
                step = np.sign(d) * np.floor(np.abs(d) + np.float32(0.5))
            new = np.clip(flat[idx].reshape(d.shape).astype(np.float64) + step, lo, hi)
        flat[idx] = new.reshape(-1).astype(flat.dtype)

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}


__all__ = ["TorchInt8Sim"]
