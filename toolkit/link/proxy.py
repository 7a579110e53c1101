"""TCP plumbing for link tests: a fault-injecting man-in-the-middle, and a HostDevice served on a socket.

    device = DeviceServer(HostDevice())              # or QEMU with -serial tcp:127.0.0.1:PORT,server=on,wait=off
    with device, FaultProxy(device.port, Faults.all(0.05), seed=1) as proxy:
        link = SerialLink(proxy.url)                 # socket://127.0.0.1:<proxy port>
        link.hello()

Both listen on 127.0.0.1 only, serve one client at a time and stop cleanly (``close()`` or ``with``).
"""

from __future__ import annotations

import select
import socket
import threading

from toolkit.link.faults import FaultInjector, Faults
from toolkit.link.errors import LinkError


def _listen(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    s.settimeout(0.1)
    return s


class _Server:
    def __init__(self, port: int = 0):
        self._sock = _listen(port)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self):
        self._thread.start()
        return self

    def __enter__(self):
        if not self._thread.is_alive():
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._serve(conn)
            except BaseException as e:  # keep the error for the test to see, keep serving
                self.error = e
            finally:
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


class DeviceServer(_Server):
    """Serve a toolkit.link.device.HostDevice on 127.0.0.1:port (0 = any free port), one client at a time."""

    def __init__(self, device=None, port: int = 0):
        if device is None:
            from toolkit.link.device import HostDevice

            device = HostDevice()
        self.device = device
        self.lock = threading.Lock()  # hold it to touch the device from the test thread (e.g. reset it)
        super().__init__(port)
        self.start()

    def _serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([conn], [], [], 0.1)
            if not r:
                continue
            data = conn.recv(65536)
            if not data:
                return
            with self.lock:
                out = self.device.feed(data)
            if out:
                conn.sendall(out)


class FaultProxy(_Server):
    """Listen on 127.0.0.1:listen_port; for each client, connect to target_host:target_port and forward both ways
    through FaultInjectors (``to_device`` faults on host->device bytes, ``to_host`` on device->host bytes).

    Deterministic from ``seed`` for a given sequence of frames, bounded by ``Faults.max_faults`` per direction.
    ``injected`` lists (direction, frame index, fault) of everything done so far.
    """

    def __init__(self, target_port: int, to_device: Faults | None = None, to_host: Faults | None = None,
                 seed: int = 0, target_host: str = "127.0.0.1", listen_port: int = 0, connect_timeout: float = 5.0):
        self.target = (target_host, target_port)
        self.to_device_faults = to_device or Faults()
        self.to_host_faults = to_host or Faults()
        self.seed = seed
        self.connect_timeout = connect_timeout
        self.injectors: list[tuple[FaultInjector, FaultInjector]] = []
        super().__init__(listen_port)
        self.start()

    @property
    def injected(self) -> list[tuple[str, int, str]]:
        out = []
        for up, down in self.injectors:
            out += [("to_device", i, k) for i, k in up.log] + [("to_host", i, k) for i, k in down.log]
        return out

    def _serve(self, conn: socket.socket) -> None:
        try:
            target = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError as e:
            raise LinkError(f"FaultProxy: cannot connect to {self.target[0]}:{self.target[1]}: {e}") from e
        n = len(self.injectors)
        up = FaultInjector(self.to_device_faults, seed=self.seed * 2 + 2 * n)
        down = FaultInjector(self.to_host_faults, seed=self.seed * 2 + 2 * n + 1)
        self.injectors.append((up, down))
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([conn, target], [], [], 0.1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is conn:
                        out = up.process(data)
                        if out:
                            target.sendall(out)
                    else:
                        out = down.process(data)
                        if out:
                            conn.sendall(out)
        finally:
            target.close()
