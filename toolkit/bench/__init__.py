"""Benchmarks: `odl bench kernels` (host GMAC/s vs PyTorch; emulated boards later)."""
