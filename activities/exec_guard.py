"""The supervisor every `exec` program runs under, so that it dies with its worker: a tiny
process (stdlib only, run as `python -I -S exec_guard.py ...`) that leads the program's process
group and kills the whole group when the worker dies, even by SIGKILL.

    exec_guard.py WORKER_PID STATUS_FD UNSET_LC_CTYPE PROGRAM [ARG ...]

Linux only (prctl). It asks for SIGTERM when its parent dies (PR_SET_PDEATHSIG); on that
signal, if its parent is no longer the worker, it SIGKILLs its process group: the program and
everything it started that stayed in the group. A SIGTERM while the worker lives is the
activity's own graceful stop of the group: the program gets it too, the supervisor waits.
The program itself also gets SIGKILL should the supervisor die (its own PR_SET_PDEATHSIG).

Through STATUS_FD it tells the worker the program's pid (a line of digits), or why it could not
start it (a line starting with `!`); end of file means it is running (or gone). It exits as the
program did: with its exit code, or killed by the same signal.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def main(argv: list[str]) -> int:
    worker, status, unset_lc_ctype = int(argv[0]), int(argv[1]), argv[2] == "1"
    program, args = argv[3], argv[3:]

    def parent_died(signum: int, frame: object) -> None:
        if os.getppid() != worker:
            os.killpg(0, signal.SIGKILL)  # the whole group, this process included

    signal.signal(signal.SIGTERM, parent_died)
    _die_with_parent(signal.SIGTERM)
    if os.getppid() != worker:  # the worker died before the request took effect
        return 128 + signal.SIGKILL
    env = dict(os.environ)
    if unset_lc_ctype:  # Python's C-locale coercion added it; the program must not see it
        env.pop("LC_CTYPE", None)

    pid = os.fork()  # this process is single-threaded: forking is safe here
    if pid == 0:
        _exec_program(program, args, env, status)
    os.write(status, f"{pid}\n".encode())
    os.close(status)
    while True:
        done, wait_status = os.waitpid(pid, 0)
        if done == pid:
            break
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:  # killed by a signal: end the same way, so the worker sees what the program did
        if -code != signal.SIGKILL:  # (SIGKILL's disposition cannot be set, nor needs to be)
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def _exec_program(program: str, args: list[str], env: dict[str, str], status: int) -> None:
    """In the forked child: die with the supervisor, restore what Python changed, exec."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the supervisor's handler is not ours
        supervisor = os.getppid()
        _die_with_parent(signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(128 + signal.SIGKILL)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them; programs expect not
            signal.signal(sig, signal.SIG_DFL)
        os.set_inheritable(status, False)  # closed by a successful exec: the worker sees EOF
        os.execve(program, args, env)
    except Exception as exc:  # not executable, a bad format, ...: the worker says so
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(status, f"!{reason}\n".encode())
    finally:
        os._exit(127)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
