"""Action `exec`: run an allow-listed program with an argument list (never a shell), bounded in
time and output, under a supervisor that ends it with its worker; the way `kubectl rollout
undo`, `kubectl scale` and `helm rollback` are done."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from asyncio.subprocess import Process
from pathlib import Path

from activities import exec_guard
from activities.boundary import action, clip, idempotency_key
from activities.heartbeat import heartbeating
from warroom.contract.models import ActionResult
from warroom.errors import ExecFailed, ExecRefused, ExecTimedOut
from warroom.language.actions import ExecParams
from warroom.language.durations import format_duration

ALLOW_ENV = "WARROOM_EXEC_ALLOW"
#: Bytes of stdout and of stderr kept (their tails).
MAX_OUTPUT = 8192
#: Extra bytes read before scrubbing, so a secret cut by the tail's edge is still recognised.
_MARGIN = 4096
#: Worker environment a program inherits (never WARROOM_SECRET_*: pass secrets via `env`).
INHERITED_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "KUBECONFIG", "TMPDIR")
#: How long a program gets after SIGTERM before its group is killed outright.
TERM_GRACE = 2.0
#: The step's idempotency key, as the program finds it in its environment.
IDEMPOTENCY_ENV = "WARROOM_IDEMPOTENCY_KEY"
_GUARD = str(Path(exec_guard.__file__).resolve())


class ExecResult(ActionResult):
    """Exit code and the tails of stdout and stderr (at most MAX_OUTPUT bytes each)."""

    exit_code: int
    stdout: str
    stderr: str
    duration_seconds: float


def resolve(program: str) -> str:
    """The path of an allow-listed program; refuse anything else before it starts."""
    allowed = {n.strip() for n in os.environ.get(ALLOW_ENV, "").split(",") if n.strip()}
    if "/" in program:
        raise ExecRefused(
            f"exec: write the program's name ({os.path.basename(program)!r}), not a path: "
            f"it is looked up on the worker's PATH"
        )
    if program not in allowed:
        listed = ", ".join(sorted(allowed)) or "nothing"
        raise ExecRefused(
            f"exec: {program!r} is not allowed on this worker ({ALLOW_ENV} allows {listed}); "
            f"add it to {ALLOW_ENV} on the worker to allow it"
        )
    path = shutil.which(program)
    if path is None:
        raise ExecRefused(f"exec: {program!r} is allowed but not found on the worker's PATH")
    return path


async def _tail(stream: asyncio.StreamReader) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        kept += chunk
        del kept[: -(MAX_OUTPUT + _MARGIN)]
    return bytes(kept)


def _text(raw: bytes) -> str:
    scrubbed = clip(raw.decode("utf-8", "replace"), len(raw) + 1)  # scrub only
    return scrubbed[-MAX_OUTPUT:]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


async def _stop(
    proc: asyncio.subprocess.Process, readers: asyncio.Future[tuple[bytes, bytes]]
) -> None:
    """SIGTERM the program's whole process group, then SIGKILL what is left of it."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), TERM_GRACE)
    _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()
    readers.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await readers


async def _read_to_end(fd: int) -> bytes:
    """Everything written to pipe `fd` until every writer closed it (without blocking the loop)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        return await reader.read()
    finally:
        transport.close()


async def _start(path: str, params: ExecParams, env: dict[str, str]) -> tuple[Process, int]:
    """Start the program under `exec_guard`, its process group's leader, which kills the group
    when the worker dies. Returns the supervisor's process and the pipe it reports on (see
    `_started`).

    The supervisor asks for a signal when the *thread* that forked it dies (prctl's rule):
    asyncio forks from the event-loop thread, which lives as long as the worker, and a SIGKILL
    ends every thread at once. Were that thread to end while the worker lived on, the
    supervisor would see its parent unchanged and ignore the signal."""
    # Python's C-locale coercion sets LC_CTYPE in the supervisor; it unsets it for the program
    # when the step's environment did not have it.
    unset_lc_ctype = "0" if "LC_CTYPE" in env else "1"
    status_read, status_write = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",  # isolated: no PYTHON* variable of the step's env reaches the supervisor
            "-S",
            _GUARD,
            str(os.getpid()),
            str(status_write),
            unset_lc_ctype,
            path,
            *params.command[1:],
            cwd=params.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(status_write,),
            # Its own process group, so a timeout or cancellation reaches its children too.
            start_new_session=True,
        )
    except OSError as exc:  # a missing cwd
        os.close(status_read)
        raise ExecRefused(f"exec: cannot start {params.command[0]}: {exc}") from exc
    finally:
        os.close(status_write)
    return proc, status_read


async def _started(status_fd: int) -> tuple[int | None, str]:
    """What the supervisor reported once the program runs (or could not): the program's pid,
    or None and why not."""
    pipe = os.fdopen(status_fd, "rb", buffering=0)  # owns the descriptor from here on
    reader = asyncio.StreamReader()
    try:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
    except BaseException:
        pipe.close()
        raise
    try:
        lines = (await reader.read()).decode("utf-8", "replace").splitlines()
    finally:
        transport.close()
    reason = next((line[1:] for line in lines if line.startswith("!")), None)
    pid = next((int(line) for line in lines if line.isdigit()), None)
    return (pid, "") if reason is None and pid is not None else (None, reason or "")


@action("exec", ExecParams)
async def exec_program(params: ExecParams) -> ExecResult:
    """Run `command` (argv, no shell); a disallowed exit code is ExecFailed (retried), a
    timeout kills the process group and is ExecTimedOut (not retried)."""
    path = resolve(params.command[0])
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    if key := idempotency_key():  # a retry after a worker crash sees the same key
        env[IDEMPOTENCY_ENV] = key
    env |= params.env
    started = time.monotonic()
    proc, status_fd = await _start(path, params, env)
    assert proc.stdout is not None and proc.stderr is not None
    readers = asyncio.gather(_tail(proc.stdout), _tail(proc.stderr))
    try:
        async with asyncio.timeout(params.timeout.total_seconds()):
            program_pid, reason = await _started(status_fd)  # the supervisor starts in ms
            if program_pid is None:
                await proc.wait()
                _, err = await readers
                raise ExecRefused(
                    f"exec: cannot start {params.command[0]}: "
                    f"{reason or _text(err)[-500:] or 'its supervisor failed'}"
                )
            async with heartbeating(lambda: {"pid": program_pid, "pgid": proc.pid}):
                code = await proc.wait()
    except TimeoutError:
        await _stop(proc, readers)
        raise ExecTimedOut(
            f"exec: {params.command[0]} ran past its timeout of "
            f"{format_duration(params.timeout)} and was killed with its process group"
        ) from None
    except BaseException:  # cancelled: the step was cancelled, the program must not outlive it
        await _stop(proc, readers)
        raise
    # Whatever the program left running in its group would hold the pipes open: end it.
    _signal_group(proc.pid, signal.SIGKILL)
    out, err = await readers
    result = ExecResult(
        exit_code=code,
        stdout=_text(out),
        stderr=_text(err),
        duration_seconds=round(time.monotonic() - started, 3),
    )
    if code != 0 and code not in params.allowed_exit_codes:
        raise ExecFailed(
            f"exec: {params.command[0]} exited with {code}; stderr ends: "
            f"{result.stderr[-500:] or '(empty)'}",
            exit_code=code,
        )
    return result
