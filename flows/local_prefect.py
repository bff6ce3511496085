"""A Prefect server of our own on 127.0.0.1 (`vdf serve` without PREFECT_API_URL, the benchmark, alert tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tasks.core.errors import ConfigError


@dataclass(frozen=True)
class LocalPrefect:
    """A running server: its API (for PREFECT_API_URL), its UI, and where it keeps its data and log."""

    api_url: str
    ui_url: str
    home: Path
    log: Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def server_environment(home: Path, host: str, port: int) -> dict[str, str]:
    """The server's environment: data under `home`, analytics off, the UI pointed at this port's API."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            # the UI asks this URL for its data; Prefect's default assumes port 4200
            "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
            "PREFECT_UI_URL": f"http://{host}:{port}",  # links in notifications ({{ flow_run|ui_url }})
        }
    )
    return env


@contextmanager
def local_prefect_server(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4200,
    timeout: float = 180.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LocalPrefect]:
    """Start `prefect server start` (SQLite under `home` unless the environment names another database); stop it."""
    if _port_in_use(host, port):
        raise ConfigError(
            f"port {port} on {host} is already in use: pass --port for another one, or, if a Prefect server runs "
            f"there, set PREFECT_API_URL=http://{host}:{port}/api to use it"
        )
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = server_environment(home, host, port)
    env.update(extra_env or {})
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    api = f"http://{host}:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise ConfigError(
                    f"the local Prefect server stopped at start (exit {process.returncode}); log {log}:\n{tail}"
                )
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ConfigError(f"the local Prefect server did not answer within {timeout:.0f} s; see {log}")
            time.sleep(0.5)
        yield LocalPrefect(api_url=api, ui_url=f"http://{host}:{port}", home=home, log=log)
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process and its children (its own session), then SIGKILL what is left after `grace` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(5)
