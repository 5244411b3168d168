"""Run ``leadstream worker`` as a child process (used by ``leadstream run``, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from leadstream.broker.embedded import free_port
from leadstream.broker.process import die_with_parent
from leadstream.exceptions import LeadstreamError

__all__ = ["WorkerProcess", "worker_env"]


def worker_env(
    *,
    bootstrap_servers: str,
    state_dir: Path,
    web_port: int,
    flavour: str = "tansu",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM__")}
    env.update(
        LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS=bootstrap_servers,
        LEADSTREAM__KAFKA__FLAVOUR=flavour,
        LEADSTREAM__STATE__DIR=str(state_dir),
        LEADSTREAM__WEB__PORT=str(web_port),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    """One worker process; its output goes to ``log_path``."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        state_dir: Path,
        log_path: Path,
        web_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        new_session: bool = False,
        command: list[str] | None = None,
    ) -> None:
        self.web_port = web_port or free_port()
        self.log_path = log_path
        self.env = worker_env(
            bootstrap_servers=bootstrap_servers,
            state_dir=state_dir,
            web_port=self.web_port,
            extra=extra_env,
        )
        self._new_session = new_session
        self._command = command or [sys.executable, "-m", "leadstream", "worker"]
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_start = 0

    @property
    def metrics_url(self) -> str:
        return f"{self.base_url}/metrics"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # the log may hold an earlier run's lines; readiness is judged on this run's only
        self._log_start = self._log.tell()
        self._process = subprocess.Popen(
            self._command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509
            start_new_session=self._new_session,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the worker says so in its log (partitions assigned, recovery done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise LeadstreamError(
                    f"worker exited with code {self.returncode}; see {self.log_path}"
                )
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                if b"Worker ready" in log.read():
                    return
            time.sleep(0.1)
        raise LeadstreamError(f"worker not ready after {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Faust shuts down cleanly: flush, commit), then SIGKILL after ``timeout``."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()
        return None if process is None else process.returncode

    def kill(self) -> None:
        """SIGKILL: no flush, no commit (crash tests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
