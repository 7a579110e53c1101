"""SerialLink over real pyserial ports: loop:// for the pure-Python framing, and socket:// to the C device served
on TCP (the way QEMU's -serial tcp is reached), with and without the fault-injecting FaultProxy in between."""

import socket
import time

import numpy as np
import pytest

from toolkit.link import (DeviceServer, FaultProxy, Faults, FrameParser, HostDevice, LinkTimeout, SerialLink,
                          SerialOpenError, SerialTransport)
from toolkit.link import frame as fr


def test_loop_framing_in_odd_chunks():
    port = SerialTransport("loop://")
    rng = np.random.default_rng(0)
    frames = [fr.Frame(fr.Msg.PING, i, rng.integers(0, 256, int(n), dtype=np.uint8).tobytes(), flags=i % 2)
              for i, n in enumerate([0, 1, 253, 254, 255, 600, 1024])]
    stream = b"".join(b"\x00garbage\x00" + f.encode() for f in frames)
    pos = 0
    while pos < len(stream):  # written in uneven pieces, read back as the port delivers
        k = int(rng.integers(1, 97))
        port.write(stream[pos:pos + k])
        pos += k
    parser = FrameParser()
    got = []
    deadline = time.monotonic() + 5
    while len([g for g in got if isinstance(g, fr.Frame)]) < len(frames) and time.monotonic() < deadline:
        got += parser.feed(port.read(0.05))
    good = [g for g in got if isinstance(g, fr.Frame)]
    assert good == frames
    assert all(isinstance(g, fr.FrameError) for g in got if not isinstance(g, fr.Frame))  # the "garbage" words
    port.close()


def test_loop_link_ignores_its_own_echo_and_times_out():
    link = SerialLink("loop://", timeout=0.05, retries=3)
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout, match="PING: no response after 3 attempts"):
        link.ping()
    assert time.monotonic() - t0 < 2
    assert link.counters.retransmissions == 2
    link.close()


def test_bad_urls_raise_clear_errors():
    with pytest.raises(SerialOpenError, match="cannot open serial port"):
        SerialLink("/dev/ttyODL_DOES_NOT_EXIST")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    with pytest.raises(SerialOpenError):
        SerialLink(f"socket://127.0.0.1:{free}")
    with pytest.raises(SerialOpenError):
        SerialLink(f"rfc2217://127.0.0.1:{free}")


def test_socket_url_to_the_c_device():
    dev = HostDevice(board_name="tcp-board", model_signature=77)
    t = dev.register_tensor(1, np.zeros(30_000, np.uint8))
    with DeviceServer(dev) as server, SerialLink(server.url, timeout=2.0) as link:
        hello = link.hello()
        assert (hello.board, hello.model_signature) == ("tcp-board", 77)
        data = np.random.default_rng(1).integers(0, 256, t.size, dtype=np.uint8)
        link.write_tensor(1, data)
        assert np.array_equal(t, data)
        assert np.array_equal(link.read_tensor(1, np.uint8), data)
        assert link.stats()["tensors_committed"] == 1
    assert server.error is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fault_proxy_between_host_and_device(seed):
    dev = HostDevice()
    t = dev.register_tensor(1, np.zeros(12_000, np.uint8))
    faults = Faults.all(0.04, max_faults=12)
    with DeviceServer(dev) as server, FaultProxy(server.port, faults, faults, seed=seed) as proxy:
        link = SerialLink(proxy.url, timeout=0.25, retries=12)
        link.hello()
        for k in range(2):
            data = np.random.default_rng(seed * 10 + k).integers(0, 256, t.size, dtype=np.uint8)
            link.write_tensor(1, data)
            assert np.array_equal(t, data)
            assert np.array_equal(link.read_tensor(1, np.uint8), data)
        assert link.run_kernel(0, b"\x00\x01\x00").output == b"\x00\x01\x00"
        link.close()
        assert len(proxy.injected) >= 5, proxy.injected
        kinds = {k for _, _, k in proxy.injected}
        assert len(kinds) >= 3
    assert dev.stats["tensors_committed"] == 2
    assert server.error is None and proxy.error is None


def test_fault_proxy_is_deterministic():
    """Same seed, same frames -> the same faults, however TCP chunks the stream."""
    from toolkit.link import FaultInjector

    stream = b"".join(fr.Frame(fr.Msg.PING, i, bytes([i]) * (i * 7)).encode() for i in range(60))
    logs = []
    for chunk in (1, 13, len(stream)):
        inj = FaultInjector(Faults.all(0.1, max_faults=15), seed=42)
        out = b"".join(inj.process(stream[i:i + chunk]) for i in range(0, len(stream), chunk)) + inj.flush()
        logs.append((inj.log, out))
    assert logs[0] == logs[1] == logs[2]
    assert len(logs[0][0]) == 15  # bounded
