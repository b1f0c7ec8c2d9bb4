"""Reviewing from elsewhere: who may open the review page, how people hear that a ranking is due, and how long
the run waits for them.

Host and token. On a loopback address (127.0.0.1, the default; localhost; ::1) the page needs no secret, as before:
only this machine (or an SSH tunnel) reaches it, and the Host check of server.py stops DNS rebinding. On any other
--review-host the page and every API and media route need the run's secret token (secrets.token_urlsafe(32), new
for each serving process), printed once in the URL evolve shows (http://HOST:PORT/?token=...). Opening that URL
once sets an HttpOnly, SameSite=Strict cookie (one per port) and redirects to the bare page, so the token leaves the
address bar, the history and any Referer, and the page's own requests (fetch, <video>, <img>) carry the cookie
without the JavaScript ever seeing the secret. A script may instead send `?token=` on every request. Anything
without the token gets 403 with a body that says nothing about the run. The token travels as plain HTTP: use it on
a network you trust, or put an HTTPS proxy in front.

--on-ranking-due CMD runs CMD (split with shlex, never through a shell) when a generation starts waiting for
rankings, with REWARDSMITH_RUN (the run directory), REWARDSMITH_GEN (the generation, counted from 0) and
REWARDSMITH_REVIEW_URL (the page, with its token where there is one) in its environment; it runs beside the wait
(at most HOOK_TIMEOUT_S), and a failure (not found, non-zero exit, too slow) is reported in one line and never
stops the run.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import threading
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from rewardsmith.errors import UserError
from rewardsmith.events import RankingDueFailed, Report

HOOK_TIMEOUT_S = 60.0
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def is_loopback(host: str) -> bool:
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_duration(value) -> float:
    """Seconds from 90, 90s, 15m, 1h30m, 1.5h or 2d (a bare number is seconds); ValueError with one line."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if not text or not match or not any(match.groups()):
            raise UserError(f"{value!r} is not a duration; give seconds (90) or a duration such as 90s, 15m, 1h30m")
        days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if not seconds > 0 or seconds == float("inf"):
        raise UserError(f"{value!r} is not a positive duration")
    return seconds


def duration_text(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or f"{seconds:g}s"


class Access:
    """The token check of one serving process. `token` is None on a loopback host: everything is allowed."""

    def __init__(self, host: str, port: int) -> None:
        self.token = None if is_loopback(host) else secrets.token_urlsafe(32)
        self.cookie = f"rewardsmith_review_{port}"

    def query_token(self, query: str) -> str | None:
        values = parse_qs(query).get("token")
        return values[0] if values else None

    def _matches(self, given: str | None) -> bool:
        return self.token is not None and given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def allowed(self, cookie_header: str | None, query: str) -> bool:
        if self.token is None:
            return True
        if self._matches(self.query_token(query)):
            return True
        try:
            jar = SimpleCookie(cookie_header or "")
        except CookieError:
            return False
        morsel = jar.get(self.cookie)
        return self._matches(morsel.value if morsel else None)

    def set_cookie(self) -> str:
        return f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"


def ranking_due(command: str, run: Path, gen: int, url: str, report: Report) -> threading.Thread:
    """Starts --on-ranking-due's command beside the wait; reports a RankingDueFailed event if it fails."""
    def run_it() -> None:
        argv = shlex.split(command)
        env = {**os.environ, "REWARDSMITH_RUN": str(run), "REWARDSMITH_GEN": str(gen), "REWARDSMITH_REVIEW_URL": url}
        reason = None
        try:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=HOOK_TIMEOUT_S, check=False)
            if done.returncode != 0:
                last = (done.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
                reason = f"exit status {done.returncode}" + (f": {last[0][:200]}" if last[0] else "")
        except subprocess.TimeoutExpired:
            reason = f"still running after {HOOK_TIMEOUT_S:g} s; stopped"
        except OSError as err:
            reason = f"{argv[0]}: {err.strerror or err}"
        if reason:
            report(RankingDueFailed(gen, command, reason))

    thread = threading.Thread(target=run_it, name="rewardsmith-ranking-due", daemon=True)
    thread.start()
    return thread


def check_listen(host: str, port: int, port_flag: str = "--review-port", host_flag: str = "--review-host") -> None:
    """Pre-flight: can the review page listen on `host`:`port`? A trial bind, released at once, so a taken port or
    an address this machine does not have is one line (UserError) before a run writes anything; serve() words the
    same failures the same way should the port be taken in between."""
    bind = host.strip("[]") or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise UserError(f"{host_flag} {host!r} does not resolve ({err}); give a host name or address of this machine "
                        "(0.0.0.0 for all of them)") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as trial:
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does: TIME_WAIT is no conflict
        try:
            trial.bind(address)
        except OSError as err:
            raise UserError(listen_error(err, host, port, port_flag, host_flag)) from None


def listen_error(err: OSError, host: str, port: int, port_flag: str, host_flag: str) -> str:
    """The one line for a page that cannot listen (the pre-flight's trial and serve() word it alike)."""
    hint = (f"pass another {port_flag}, or {port_flag} 0 for any free one" if err.errno == errno.EADDRINUSE
            else f"give {host_flag} an address of this machine (0.0.0.0 for all of them)")
    return f"cannot listen on {host}:{port} ({err.strerror or err}); {hint}"


def check_command(command: str, flag: str = "--on-ranking-due") -> None:
    """Pre-flight: the program of a command line (no shell) exists and may be run."""
    program = shlex.split(command)[0]
    found = shutil.which(program)
    if found is None:
        where = "is not an executable file" if os.sep in program else "is not found on PATH"
        raise UserError(f"{flag} {command!r}: {program} {where}; give a program this machine can run (no shell: "
                        "wrap a pipeline in `sh -c '...'`)")
