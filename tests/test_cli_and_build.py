"""The front door: the `odl` CLI parses, the host library builds through cffi and through CMake."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from toolkit.cli import main
from toolkit.errors import DTypeError, ShapeError
from toolkit.host import use_path
from toolkit.host.arrays import as_array
from toolkit.host.build import REPO, make_cdef, public_headers


def test_odl_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "info" in out


def test_odl_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rounding"] == "double"
    assert info["paths"][0] == "reference" and "host" in info["paths"]
    assert info["active_path"] == "host"


def test_console_script_runs():
    exe = shutil.which("odl") or str(REPO / ".venv" / "bin" / "odl")
    res = subprocess.run([exe, "info"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "matmul code paths" in res.stdout


def test_unknown_path_is_a_clear_error():
    from toolkit.errors import OdlError

    with pytest.raises(OdlError, match="unknown code path"):
        use_path("avx9000")


def test_array_checks_name_the_argument():
    with pytest.raises(DTypeError, match="weights: expected dtype int8, got float32"):
        as_array(np.zeros(3, np.float32), np.int8, "weights")
    with pytest.raises(ShapeError, match=r"bias: expected shape \(4\), got \(3,\)"):
        as_array(np.zeros(3, np.int32), np.int32, "bias", shape=(4,))


def test_cdef_has_no_preprocessor_leftovers():
    cdef = make_cdef(public_headers(), [REPO / "csrc" / "include"], [])
    assert "#" not in cdef
    assert "odl_quantize_multiplier" in cdef


def test_cmake_builds_static_library(tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build)], check=True, capture_output=True, timeout=300)
    res = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    lib = build / "libodl.a"
    assert lib.exists()
    syms = subprocess.run(["nm", str(lib)], capture_output=True, text=True).stdout
    assert " T odl_quantize_multiplier" in syms and " T odl_matmul_s8_ref" in syms


def test_cli_error_is_one_line_without_traceback():
    res = subprocess.run([sys.executable, "-m", "toolkit.cli", "nonexistent-command"], capture_output=True, text=True)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr


def test_bench_kernels_host_json(capsys):
    """`odl bench kernels --board host --json`: one record per kernel x pass x path with the documented fields."""
    assert main(["bench", "kernels", "--board", "host", "--quick", "--dtype", "int8", "--dtype", "fp32",
                 "--pass", "forward", "--pass", "weight_grad", "--json", "--no-save"]) == 0
    recs = json.loads(capsys.readouterr().out)
    kernels = {"conv2d", "pointwise_conv2d", "depthwise_conv2d", "fully_connected"}
    assert {r["kernel"] for r in recs} == kernels
    assert {(r["dtype"], r["pass"], r["path"]) for r in recs} == {
        (d, p, path) for d in ("int8", "fp32") for p in ("forward", "weight_grad") for path in ("reference", "host")}
    for r in recs:
        for key in ("kernel", "dtype", "pass", "path", "shape", "macs", "gmacs", "torch_gmacs"):
            assert key in r
        assert r["macs"] > 0 and r["gmacs"] > 0 and r["torch_gmacs"] > 0
        assert r["gmacs"] == pytest.approx(r["macs"] / r["seconds"] / 1e9)
    conv = next(r for r in recs if r["kernel"] == "conv2d")
    assert conv["macs"] == 16 * 16 * 16 * 3 * 3 * 16  # anchor shape, padding taps counted
