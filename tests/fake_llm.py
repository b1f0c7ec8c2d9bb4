"""A scripted OpenAI-compatible chat server for tests.

It is a real HTTP server, so tests exercise litellm's whole client path (request building, `n`, error mapping,
timeouts) instead of a mock of it.

Script: a list of replies consumed in order, one per choice.
- a string: the assistant content of one choice;
- {"status": 429, "body": {...}, "headers": {"Retry-After": "0"}}: the whole HTTP request fails with that status
  (the entry is consumed; choices taken earlier in the same request are consumed too); "delay_s" may slow it;
- {"delay_s": 3, "content": "..."}: a slow choice; the response is sent after the longest delay in the request.
  Without "content" the choice's text comes from the fall-back below;
- {"content": "...", "finish_reason": "length"}: a choice that ends for another reason ("content_filter" may come
  with "content": None, as providers send a filtered choice);
- {"raw": "<html>...", "status": 502, "content_type": "text/html"}: the whole request is answered with that body as
  it is (a truncated or non-JSON body, an HTML error page from a proxy; status 200 unless given);
- {"choices": 0}: a well-formed response with no choices.
A GET (the pre-flight's reachability probe) is answered 404 and its path recorded in `gets`.
Faults (raw, choices 0, status) end the request: later replies stay for the next request.
When the script runs out, a choice is `default(request_json)` if a default was given, else the last scripted text.
With neither, the request fails with HTTP 500 so a test that under-scripts finds out loudly.

Manual use: python tests/fake_llm.py --port 8000 --script replies.json   (replies.json holds the list above)
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Reply = str | dict[str, Any]
DefaultReply = Callable[[dict[str, Any]], str]

CHAT_PATH = "/v1/chat/completions"


@dataclass
class _Plan:
    """What one HTTP request will answer, decided under the lock when it arrives."""

    texts: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    status: int | None = None
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    finish_reasons: list[str] = field(default_factory=list)
    raw: str | None = None  # a body sent as it is
    content_type: str = "application/json"
    no_choices: bool = False


def _words(text: str) -> int:
    return len(text.split())


def _prompt_words(request: dict[str, Any]) -> int:
    return sum(_words(str(m.get("content") or "")) for m in request.get("messages", []))


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "fake_error", "code": status}}


class FakeLLM:
    """Serves a script on 127.0.0.1:<random port> from a background thread until close()."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        default: DefaultReply | None = None,
        port: int = 0,
        max_choices: int | None = None,
    ):
        """max_choices caps the choices per response, like servers that ignore or cap `n`."""
        self.requests: list[dict[str, Any]] = []  # JSON bodies received, in arrival order, failed ones included
        self.arrivals: list[float] = []  # time.time() of each request's arrival, in the same order
        self.gets: list[str] = []  # paths of GET requests (evolve's reachability probe asks GET /v1/models)
        self._replies: deque[Reply] = deque(script)
        self._default = default
        self._last_text: str | None = None
        self._max_choices = max_choices
        self._lock = threading.Lock()
        # close() sets this so handlers sleeping on a delay wake up instead of outliving the test.
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _plan(self, request: dict[str, Any]) -> _Plan:
        choices = int(request.get("n") or 1)
        if self._max_choices is not None:
            choices = min(choices, self._max_choices)
        with self._lock:
            self.requests.append(request)
            self.arrivals.append(time.time())
            replies = self._take(choices)
            last_text = self._last_text
        # The default callable runs outside the lock: it is test code and may be slow or wait for other requests.
        plan = _Plan()
        for reply in replies:
            if isinstance(reply, dict):
                plan.delay_s = max(plan.delay_s, float(reply.get("delay_s", 0.0)))
            if isinstance(reply, dict) and "raw" in reply:
                plan.raw, plan.status = str(reply["raw"]), int(reply.get("status", 200))
                plan.content_type = str(reply.get("content_type", "application/json"))
                return plan
            if isinstance(reply, dict) and reply.get("choices") == 0:
                plan.no_choices = True
                return plan
            if isinstance(reply, dict) and "status" in reply:
                plan.status = int(reply["status"])
                plan.error_body = reply.get("body") or _error_body(plan.status, f"scripted HTTP {plan.status}")
                plan.headers = {str(k): str(v) for k, v in reply.get("headers", {}).items()}
                return plan
            finish_reason = "stop"
            if isinstance(reply, dict):
                finish_reason = str(reply.get("finish_reason", "stop"))
                if "content" in reply and reply["content"] is None:  # a filtered choice: no text at all
                    plan.texts.append(None)  # type: ignore[arg-type]
                    plan.finish_reasons.append(finish_reason)
                    continue
                reply = reply.get("content")
            text = reply if reply is not None else self._default(request) if self._default is not None else last_text
            if text is None:
                plan.status = 500
                plan.error_body = _error_body(500, "fake script exhausted and no default reply")
                return plan
            plan.texts.append(text)
            plan.finish_reasons.append(finish_reason)
        return plan

    def _take(self, choices: int) -> list[Reply | None]:
        """Pops the replies for one request (None where the script ran out); the caller holds the lock."""
        replies: list[Reply | None] = []
        for _ in range(choices):
            reply = self._replies.popleft() if self._replies else None
            replies.append(reply)
            if isinstance(reply, dict) and ("status" in reply or "raw" in reply or reply.get("choices") == 0):
                break  # the request fails here; later replies stay for the next request
            text = reply.get("content") if isinstance(reply, dict) else reply
            if text is not None:
                self._last_text = text
        return replies

    def _answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any] | str, dict[str, str], float]:
        plan = self._plan(request)
        if plan.raw is not None:
            return plan.status or 200, plan.raw, {"Content-Type": plan.content_type}, plan.delay_s
        if plan.status is not None:
            return plan.status, plan.error_body or {}, plan.headers, plan.delay_s
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(plan.texts, plan.finish_reasons, strict=True))
        ]
        prompt_tokens = _prompt_words(request)
        completion_tokens = sum(_words(text or "") for text in plan.texts)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, body, {}, plan.delay_s

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps connections alive, as real servers do; the client's connection pool relies on it.
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # no model list, as many local servers have none: 404 (still an answer)
                fake.gets.append(self.path)
                self._send(404, _error_body(404, f"no route {self.path}"), {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != CHAT_PATH:
                    self._send(404, _error_body(404, f"no route {self.path}"), {})
                    return
                try:
                    request = json.loads(raw or b"{}")
                except json.JSONDecodeError as exc:
                    self._send(400, _error_body(400, f"invalid JSON: {exc}"), {})
                    return
                status, body, headers, delay_s = fake._answer(request)
                if fake._closed.wait(delay_s):
                    return
                self._send(status, body, headers)

            def _send(self, status: int, body: dict[str, Any] | str, headers: dict[str, str]) -> None:
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **headers}
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout fired); nothing left to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; tests read FakeLLM.requests instead

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="JSON file holding the list of replies")
    args = parser.parse_args()
    script = json.loads(args.script.read_text()) if args.script else []
    with FakeLLM(script, port=args.port) as fake:
        print(f"fake LLM serving at {fake.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
