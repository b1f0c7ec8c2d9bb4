"""The local review web app: watch a generation's rollout videos side by side and rank them (ICPL's human step).

Standard library only (ThreadingHTTPServer), bound to 127.0.0.1 (or --review-host: access.py), running in a
background thread so the evolve loop can serve it in-process while it waits (feedback.ranking.wait_for_ranking).

  GET  /                                   the page (static/index.html, app.js, overview.js, reviewers.js, style.css)
  GET  /api/run                            config, generations, which generation awaits a ranking, how many
                                           reviewers it waits for and how many ranked each generation
  GET  /api/generation/<g>[?reviewer=N]    candidates (status, metrics, per-term statistics, code, media URLs),
                                           the decision if any; who has ranked (names only while it waits, so no
                                           reviewer sees another's ranking first; every ranking once decided);
                                           reviewer N's own ranking; the judge's order and reasons (hybrid:
                                           its proposal and whether it is confident, or that it is the fallback
                                           order); while it waits, the review deadline's seconds left
  GET  /api/overview                       every generation and candidate: status, task score, failure reason,
                                           LLM cost, the fitness chart's data (overview.py)
  POST /api/generation/<g>/ranking         body: ranking data -> 200 the saved ranking | 400 {"error": "..."}
  GET  /media/<g>/<candidate id>/<file>    video.mp4, worst.mp4 or strip.png of that candidate only (HTTP Range
                                           supported), or poster.png: the first frame of its strip, the video's
                                           poster (a phone shows a video black until it plays; a poster it shows)

On a loopback host, requests whose Host is not a loopback name are refused (DNS rebinding); on any other host every
request needs the run's secret token (access.py) and gets 403 without it. A POST must be JSON from the page's own
origin, so other web sites open in the same browser cannot submit rankings. Any port is accepted in Host so the page
also works through an SSH tunnel (ssh -L 8765:127.0.0.1:8765 host).

Blind review (a --blind run, or `rewardsmith review --blind`): no answer carries a task score or a success rate
(overview.py says what is taken out).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from rewardsmith.errors import UserError
from rewardsmith.feedback.ranking import (
    RankingError,
    submit_ranking,
)
from rewardsmith.feedback.review.access import Access, listen_error
from rewardsmith.feedback.review.overview import run_overview
from rewardsmith.feedback.review.views import (
    POSTER_NAME,
    generation_detail,
    poster_png,
    run_summary,
)
from rewardsmith.runs.store import STRIP_NAME, VIDEO_NAME, WORST_NAME, RunStore

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "overview.js": "text/javascript; charset=utf-8", "reviewers.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
MEDIA_FILES = {VIDEO_NAME: "video/mp4", WORST_NAME: "video/mp4", STRIP_NAME: "image/png"}
MAX_BODY = 1 << 20
CHUNK = 1 << 16
log = logging.getLogger("rewardsmith.feedback.review")


class ReviewServerError(UserError):
    """The review server cannot start (e.g. the port is taken)."""


def media_path(store: RunStore, gen_text: str, cand_text: str, name: str) -> Path | None:
    """The file a /media URL names, or None: only video.mp4 / worst.mp4 / strip.png of an existing candidate directory,
    never a symlink, never anything outside the run directory."""
    if name not in MEDIA_FILES or not re.fullmatch(r"\d{1,4}", gen_text):
        return None
    match = re.fullmatch(r"g(\d{1,4})c(\d{1,4})", cand_text)
    if not match or int(match[1]) != int(gen_text):
        return None
    cand_dir = store.cand_dir(int(gen_text), int(match[2]))
    path = cand_dir / name
    try:
        if path.is_symlink() or cand_dir.is_symlink() or not path.is_file():
            return None
        root = store.root.resolve(strict=True)
        resolved = path.resolve(strict=True)
    except OSError:
        return None
    if not resolved.is_relative_to(root) or resolved != cand_dir.resolve() / name:
        return None
    return resolved


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive) of a single 'bytes=' range; None for no/ignored range; False if unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or (not match[1] and not match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # suffix: the last N bytes
        length = int(match[2])
        if length == 0:
            return False
        start, end = max(0, size - length), size - 1
    if start >= size or start > end:
        return False
    return start, end


# ---- HTTP -------------------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server_version = "rewardsmith-review"
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle or stalled connection may hold a thread
    store: RunStore  # set on the subclass made by serve()
    proposes = False  # the run's ranker has a judge propose (set by serve())
    blind: bool = False  # no task score nor success rate in any answer
    access: Access  # the token check (access.py); no token on a loopback host

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.address_string(), fmt % args)

    # -- helpers
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _host_ok(self) -> bool:
        """A loopback name in Host (any port, so an SSH tunnel works); a DNS-rebinding page sends its own name.
        With a token (not loopback) any Host: the token is what keeps others out."""
        if self.access.token is not None:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in ("127.0.0.1", "localhost", "[::1]")

    def _allowed(self) -> bool:
        """The token check; False after answering 403 (a body that tells nothing about the run)."""
        if self.access.allowed(self.headers.get("Cookie"), urlsplit(self.path).query):
            return True
        self._error(HTTPStatus.FORBIDDEN, "forbidden: open the review page with the URL (and token) rewardsmith "
                    "printed")
        return False

    # -- routes
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            if not self._allowed():
                return None
            if not self._host_ok():
                return self._error(HTTPStatus.FORBIDDEN, "wrong Host header; open the URL rewardsmith printed")
            path, query = urlsplit(self.path)[2:4]
            if path in ("/", "/index.html") and self.access.token and self.access.query_token(query):
                # the token becomes a cookie and leaves the address bar (and the history, and any Referer)
                return self._send(HTTPStatus.SEE_OTHER, b"", "text/plain",
                                  {"Location": "/", "Set-Cookie": self.access.set_cookie()})
            if path in ("/", "/index.html"):
                return self._static("index.html")
            if path.startswith("/static/"):
                return self._static(path[len("/static/"):])
            if path == "/api/run":
                return self._json(HTTPStatus.OK, run_summary(self.store, self.blind))
            if path == "/api/overview":
                return self._json(HTTPStatus.OK, run_overview(self.store, self.blind))
            match = re.fullmatch(r"/api/generation/(\d{1,4})", path)
            if match:
                try:
                    reviewer = (parse_qs(query).get("reviewer") or [None])[0]
                    detail = generation_detail(self.store, int(match[1]), self.blind, reviewer, self.proposes)
                except RankingError as err:
                    return self._error(HTTPStatus.BAD_REQUEST, str(err))
                if detail is None:
                    return self._error(HTTPStatus.NOT_FOUND, f"no generation {match[1]} in this run")
                return self._json(HTTPStatus.OK, detail)
            match = re.fullmatch(r"/media/([^/]+)/([^/]+)/([^/]+)", path)
            if match:
                return self._media(*(unquote(part) for part in match.groups()))
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        except OSError:  # the browser dropped the connection (it does that with media all the time)
            pass
        except Exception as err:
            log.exception("GET %s failed", self.path)
            self._try_error(err)

    def do_POST(self):
        try:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True  # the body stays unread
                return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the body is missing its length or too large")
            body = self.rfile.read(length)
            if not self._allowed():
                return None
            if not self._host_ok():
                return self._error(HTTPStatus.FORBIDDEN, "wrong Host header; open the URL rewardsmith printed")
            origin = self.headers.get("Origin")
            if origin is not None and origin != f"http://{self.headers.get('Host')}":
                return self._error(HTTPStatus.FORBIDDEN, "rankings can only be submitted from the review page")
            match = re.fullmatch(r"/api/generation/(\d{1,4})/ranking", urlsplit(self.path).path)
            if not match:
                return self._error(HTTPStatus.NOT_FOUND, "not found")
            if "application/json" not in (self.headers.get("Content-Type") or ""):
                return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the ranking as application/json")
            try:
                data = json.loads(body or b"null")
            except (ValueError, RecursionError):  # bad JSON, bad UTF-8, a 5000-digit number, [[[[... 100k deep
                return self._error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON (or nests or numbers too big)")
            try:
                ranking = submit_ranking(self.store, int(match[1]), data)
            except RankingError as err:
                return self._error(HTTPStatus.BAD_REQUEST, str(err))
            return self._json(HTTPStatus.OK, ranking.to_dict())
        except OSError:
            pass
        except Exception as err:
            log.exception("POST %s failed", self.path)
            self._try_error(err)

    def _try_error(self, err: Exception) -> None:
        try:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"server error: {err}")
        except OSError:
            pass

    def _static(self, name: str) -> None:
        if name not in STATIC_FILES:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        self._send(HTTPStatus.OK, (STATIC_DIR / name).read_bytes(), STATIC_FILES[name])

    def _poster(self, gen_text: str, cand_text: str) -> None:
        strip = media_path(self.store, gen_text, cand_text, STRIP_NAME)
        video = media_path(self.store, gen_text, cand_text, VIDEO_NAME)
        if strip is None or video is None:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        stat = strip.stat()
        try:
            body = poster_png(strip, stat.st_mtime_ns, stat.st_size)
        except (OSError, ValueError):  # a strip PIL cannot read: the video goes without a poster
            return self._error(HTTPStatus.NOT_FOUND, "this candidate's strip is not a readable image")
        self._send(HTTPStatus.OK, body, "image/png")

    def _media(self, gen_text: str, cand_text: str, name: str) -> None:
        if name == POSTER_NAME:
            return self._poster(gen_text, cand_text)
        path = media_path(self.store, gen_text, cand_text, name)
        if path is None:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        size = path.stat().st_size
        byte_range = _parse_range(self.headers.get("Range"), size)
        if byte_range is False:
            return self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", MEDIA_FILES[name],
                              {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
        start, end = byte_range if isinstance(byte_range, tuple) else (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if byte_range else HTTPStatus.OK)
        self.send_header("Content-Type", MEDIA_FILES[name])
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Cache-Control", "no-cache")
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with path.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


class ReviewServer:
    """A running review server: `.url` (to open: with the token where one is needed), `.address` (the same without
    the token, safe to print again), `.close()`. Serves from a daemon thread."""

    def __init__(self, httpd: ThreadingHTTPServer, blind: bool = False, host: str = "127.0.0.1",
                 access: Access | None = None):
        self._httpd = httpd
        self.blind = blind
        self.port = httpd.server_address[1]
        self.token = access.token if access else None
        shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
        self.address = f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}/"
        self.url = self.address + (f"?token={self.token}" if self.token else "")
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="rewardsmith-review", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(store: RunStore, port: int = 0, host: str = "127.0.0.1", port_flag: str = "--port",
          blind: bool = False, host_flag: str = "--review-host", proposes: bool = False) -> ReviewServer:
    """Starts the review app for `store` on `host`:`port` (0 = any free port) in a background thread; a host that
    is not loopback serves only requests with the secret token (access.py). `port_flag` and `host_flag` name the
    caller's options in the error for a taken port or an address this machine does not have. Blind review when
    `blind` or the run's config says so (a --blind run stays blind however its page is opened)."""
    blind = blind or store.config().blind
    bind = host.strip("[]") or "0.0.0.0"
    server_class = _Server6 if ":" in bind else ThreadingHTTPServer
    httpd = server_class((bind, port), _Handler, bind_and_activate=False)
    try:
        httpd.server_bind()
        httpd.server_activate()
    except OSError as err:
        httpd.server_close()
        raise ReviewServerError(listen_error(err, host, port, port_flag, host_flag)) from err
    access = Access(host, httpd.server_address[1])
    httpd.RequestHandlerClass = type("ReviewHandler", (_Handler,), {"store": store, "blind": blind, "access": access,
                                                                    "proposes": proposes})
    httpd.daemon_threads = True
    return ReviewServer(httpd, blind, host, access)
