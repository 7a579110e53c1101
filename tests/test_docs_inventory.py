"""docs/kernels.md stays true: every public kernel function in the kernel headers is listed there."""

import re

from toolkit.host.build import REPO

HEADERS = ["kernels_s8.h", "kernels_fp.h", "train_s8.h", "quant.h", "matmul.h", "common.h", "layer_paths.h", "train_step.h", "softmax_s8.h"]


def test_every_public_kernel_is_in_the_inventory():
    doc = (REPO / "docs" / "kernels.md").read_text()
    missing = []
    for h in HEADERS:
        text = (REPO / "csrc" / "include" / "odl" / h).read_text()
        for name in re.findall(r"^[a-z_0-9 \*]*\b(odl_[a-z0-9_]+)\(", text, flags=re.M):
            if f"`{name}`" not in doc and not re.search(rf"`{name}`|{name}\b", doc):
                missing.append(f"{h}: {name}")
    assert not missing, "docs/kernels.md does not list: " + ", ".join(missing)
