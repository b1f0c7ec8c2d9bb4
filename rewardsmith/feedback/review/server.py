"""The local review web app: watch a generation's rollout videos side by side and rank them (ICPL's human step).

Standard library only (ThreadingHTTPServer), bound to 127.0.0.1, running in a background thread so the evolve
loop can serve it in-process while it waits (see rewardsmith.feedback.ranking.wait_for_ranking).

  GET  /                                   the page (static/index.html, app.js, overview.js, style.css)
  GET  /api/run                            config, generations, which generation awaits a ranking
  GET  /api/generation/<g>                 candidates (status, metrics, per-term statistics, code, media URLs),
                                           the saved ranking if any
  GET  /api/overview                       every generation and candidate: status, task score, failure reason,
                                           LLM cost, the fitness chart's data (overview.py)
  POST /api/generation/<g>/ranking         body: ranking data -> 200 the saved ranking | 400 {"error": "..."}
  GET  /media/<g>/<candidate id>/<file>    video.mp4 or strip.png of that candidate only (HTTP Range supported)

Requests whose Host is not a loopback name are refused (DNS rebinding), and a POST must be JSON from the page's own
origin, so other web sites open in the same browser cannot submit rankings. Any port is accepted in Host so the page
also works through an SSH tunnel (ssh -L 8765:127.0.0.1:8765 host).

Blind review (a --blind run, or `rewardsmith review --blind`): no answer carries a task score or a success rate
(overview.py says what is taken out).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rewardsmith.feedback.ranking import RankingError, awaiting_generation, load_ranking, submit_ranking
from rewardsmith.feedback.review.overview import blind_candidate, blind_selection, run_overview
from rewardsmith.records import Candidate, Status
from rewardsmith.runs.store import STRIP_NAME, VIDEO_NAME, RunStore

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "overview.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
MEDIA_FILES = {VIDEO_NAME: "video/mp4", STRIP_NAME: "image/png"}
MAX_BODY = 1 << 20
CHUNK = 1 << 16
log = logging.getLogger("rewardsmith.feedback.review")


class ReviewServerError(ValueError):
    """The review server cannot start (e.g. the port is taken)."""


# ---- data for the API -------------------------------------------------------------------------------------------

def run_summary(store: RunStore, blind: bool = False) -> dict:
    awaiting = awaiting_generation(store)
    generations = []
    for gen in store.generations():
        cands = store.candidates(gen)
        ranking = load_ranking(store, gen)
        generations.append({"generation": gen, "candidates": len(cands),
                            "evaluated": sum(c.status is Status.EVALUATED for c in cands),
                            "ranked": ranking is not None, "awaiting": gen == awaiting})
    return {"run": store.root.name, "config": dataclasses.asdict(store.config()), "generations": generations,
            "awaiting": awaiting, "blind": blind}


def _media_url(store: RunStore, gen: int, cand: Candidate, name: str) -> str | None:
    if (store.cand_dir(gen, cand.index) / name).is_file():
        return f"/media/{gen}/{cand.id}/{name}"
    return None


def generation_detail(store: RunStore, gen: int, blind: bool = False) -> dict | None:
    if gen not in store.generations():
        return None
    awaiting = awaiting_generation(store)
    ranking = load_ranking(store, gen)
    candidates = []
    for cand in store.candidates(gen):
        evaluation = dataclasses.asdict(cand.evaluation) if cand.evaluation else {}
        train = cand.train
        detail = {
            "id": cand.id, "index": cand.index, "status": cand.status.value, "reason": cand.reason,
            "status_text": cand.status_text, "stopped_at": cand.stopped_at,  # "stopped at N steps" under halving
            "rankable": cand.status is Status.EVALUATED,
            "metrics": {k: evaluation.get(k) for k in ("fitness_mean", "fitness_std", "success_rate", "return_mean",
                                                       "episode_length_mean", "episodes")},
            "terms": evaluation.get("terms") or {},
            "train": {"steps": train.steps if train else None, "wall_s": train.wall_s if train else None},
            "scales": cand.scales, "source": cand.source,
            "video": _media_url(store, gen, cand, VIDEO_NAME), "strip": _media_url(store, gen, cand, STRIP_NAME),
        }
        candidates.append(blind_candidate(detail, cand.status.value) if blind else detail)
    selection = store.load_selection(gen)
    saved = selection.to_dict() if selection else None
    return {"generation": gen, "awaiting": gen == awaiting, "awaiting_generation": awaiting,
            "ranking": ranking.to_dict() if ranking else None,
            "selection": blind_selection(saved) if blind else saved, "candidates": candidates}


def media_path(store: RunStore, gen_text: str, cand_text: str, name: str) -> Path | None:
    """The file a /media URL names, or None: only video.mp4 / strip.png of an existing candidate directory,
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
    blind: bool = False  # no task score nor success rate in any answer

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
        """A loopback name in Host (any port, so an SSH tunnel works); a DNS-rebinding page sends its own name."""
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in ("127.0.0.1", "localhost", "[::1]")

    # -- routes
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            if not self._host_ok():
                return self._error(HTTPStatus.FORBIDDEN, "wrong Host header; open the URL rewardsmith printed")
            path = urlsplit(self.path).path
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
                detail = generation_detail(self.store, int(match[1]), self.blind)
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

    def _media(self, gen_text: str, cand_text: str, name: str) -> None:
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
    """A running review server: `.url`, `.close()`. Serves from a daemon thread."""

    def __init__(self, httpd: ThreadingHTTPServer, blind: bool = False):
        self._httpd = httpd
        self.blind = blind
        self.port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
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


def serve(store: RunStore, port: int = 0, host: str = "127.0.0.1", port_flag: str = "--port",
          blind: bool = False) -> ReviewServer:
    """Starts the review app for `store` on 127.0.0.1:`port` (0 = any free port) in a background thread.
    `port_flag` names the caller's option in the error for a taken port. Blind review when `blind` or the run's
    config says so (a --blind run stays blind however its page is opened)."""
    if host not in ("127.0.0.1", "localhost"):
        raise ReviewServerError(f"the review server only binds to 127.0.0.1 (asked for {host})")
    blind = blind or store.config().blind
    handler = type("ReviewHandler", (_Handler,), {"store": store, "blind": blind})
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        raise ReviewServerError(f"cannot listen on 127.0.0.1:{port} ({err.strerror or err}); "
                                f"pass another {port_flag}, or {port_flag} 0 for any free one") from err
    httpd.daemon_threads = True
    return ReviewServer(httpd, blind)
