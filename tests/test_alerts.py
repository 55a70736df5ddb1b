"""Alerts: sinks against a real HTTP server on 127.0.0.1, and the alerter's dedup, rate limits,
retries, timeouts and overflow accounting. No test depends on how long anything took."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from riskguard._core import RiskError
from riskguard.alerts import (
    Alert,
    Alerter,
    LogSink,
    Sink,
    SinkError,
    TelegramSink,
    WebhookSink,
    sink_from_dict,
)

TOKEN = "123456789:AAH-very-secret-token_xyz"


@dataclass
class Reply:
    """What the test server answers to one request."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to hold the request before answering; released early when the server stops.
    hold: float = 0.0


@dataclass
class Request:
    """One request the test server received."""

    path: str
    headers: dict[str, str]
    body: bytes


class Server:
    """A local HTTP server answering with a script of replies; the last one repeats."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with server.lock:
                    server.requests.append(
                        Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                if reply.hold:
                    server.stopping.wait(reply.hold)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up waiting, which is what some tests want

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The base URL to point a sink at."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def count(self) -> int:
        """How many requests arrived so far."""
        with self.lock:
            return len(self.requests)

    def stop(self) -> None:
        """Release held requests and shut the server down."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    """Start local servers for a test and stop them all afterwards."""
    servers: list[Server] = []

    def start(*replies: Reply) -> Server:
        server = Server(list(replies) or [Reply()])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Requests to 127.0.0.1 must never be routed through a proxy from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


class Recorder(Sink):
    """A sink that keeps what it is sent."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        """Keep the alert."""
        self.alerts.append(alert)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool]) -> None:
    """Wait for the workers to make ``condition`` true; fails rather than hangs."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def log_lines(stream: io.StringIO) -> list[dict]:
    """The JSON lines a log sink wrote to ``stream``."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def alert(title: str = "daily loss breaker tripped", kind: str = "breaker_tripped", **kw) -> Alert:
    """A breaker alert with fixed content, any part of which can be overridden."""
    kw.setdefault("message", "loss 3.1% over limit 3%")
    kw.setdefault("severity", "critical")
    kw.setdefault("ts", 1_700_000_000_000_000_000)
    return Alert(kind=kind, title=title, **kw)


# -- webhook ------------------------------------------------------------------------------


def test_webhook_posts_the_alert_as_exact_json(serve):
    server = serve(Reply(204, b""))
    sent = alert(fields={"symbol": "BTCUSDT", "value": 0.031, "limit": 0.03})

    async def main() -> dict:
        sink = WebhookSink(server.url + "/hook", timeout=2, headers={"Authorization": "Bearer k"})
        alerter = Alerter([sink], retries=0)
        await alerter.start()
        assert alerter.notify(sent) is True
        await alerter.aclose()
        return alerter.stats()

    stats = asyncio.run(main())
    assert stats["sent"] == {"webhook": 1}
    assert stats["failed"] == {"webhook": 0}
    [request] = server.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer k"
    assert json.loads(request.body) == {
        "kind": "breaker_tripped",
        "severity": "critical",
        "title": "daily loss breaker tripped",
        "message": "loss 3.1% over limit 3%",
        "fields": {"symbol": "BTCUSDT", "value": 0.031, "limit": 0.03},
        "ts": 1_700_000_000_000_000_000,
    }
    assert request.body == sent.to_json().encode()


def test_webhook_retries_after_429(serve):
    server = serve(Reply(429, b"slow down", {"Retry-After": "0"}), Reply(200))
    log = io.StringIO()

    async def main() -> dict:
        alerter = Alerter(
            [WebhookSink(server.url, timeout=2)], retries=2, backoff=0.01, log=LogSink(log)
        )
        async with alerter:
            alerter.notify(alert())
        return alerter.stats()

    stats = asyncio.run(main())
    assert server.count() == 2
    assert stats["sent"] == {"webhook": 1}
    assert stats["retried"] == {"webhook": 1}
    assert stats["failed"] == {"webhook": 0}
    assert log.getvalue() == ""


def test_slow_server_times_out_retries_gives_up_and_blocks_nothing(serve):
    server = serve(Reply(200, hold=5.0))
    log = io.StringIO()

    async def main() -> tuple[list[bool], int, dict, dict]:
        log_sink = LogSink(log)
        alerter = Alerter([WebhookSink(server.url, timeout=0.2), log_sink], retries=1, backoff=0.01)
        await alerter.start()
        accepted = [alerter.notify(alert(f"alert {i}")) for i in range(2)]
        # notify returned before any delivery began: it only queues.
        requests_when_notify_returned = server.count()
        # The log sink delivers both while the webhook is still stuck on its first.
        await until(lambda: alerter.stats()["sent"]["log"] == 2)
        during = alerter.stats()
        await alerter.aclose(timeout=None)
        return accepted, requests_when_notify_returned, during, alerter.stats()

    accepted, early, during, after = asyncio.run(main())
    assert accepted == [True, True]
    assert early == 0
    assert during["sent"]["webhook"] == 0 and during["failed"]["webhook"] == 0
    assert after["sent"] == {"webhook": 0, "log": 2}
    assert after["failed"] == {"webhook": 2, "log": 0}
    assert after["retried"]["webhook"] == 2
    assert server.count() == 4  # two attempts for each alert
    failures = [line for line in log_lines(log) if line["event"] == "alert_delivery_failed"]
    assert [f["alert"]["title"] for f in failures] == ["alert 0", "alert 1"]
    assert all("timed out" in f["error"] and f["attempts"] == 2 for f in failures)


def test_always_500_is_logged_and_counted_never_raised(serve):
    server = serve(Reply(500, b"boom"))
    log = io.StringIO()

    async def main() -> tuple[bool, dict]:
        alerter = Alerter(
            [WebhookSink(server.url)], retries=2, backoff=0.01, seed=1, log=LogSink(log)
        )
        async with alerter:
            accepted = alerter.notify(alert())
        return accepted, alerter.stats()

    accepted, stats = asyncio.run(main())
    assert accepted is True
    assert server.count() == 3
    assert stats["failed"] == {"webhook": 1}
    assert stats["sent"] == {"webhook": 0}
    [line] = log_lines(log)
    assert line["event"] == "alert_delivery_failed"
    assert line["level"] == "critical"
    assert line["sink"] == "webhook"
    assert line["error"] == "webhook: HTTP 500"
    assert line["attempts"] == 3
    assert line["alert"]["kind"] == "breaker_tripped"


def test_a_hanging_sink_is_cut_off_by_the_alerter_timeout():
    class Hang(Sink):
        name = "hang"

        async def send(self, alert: Alert) -> None:
            await asyncio.Event().wait()

    class Broken(Sink):
        name = "broken"

        async def send(self, alert: Alert) -> None:
            raise RuntimeError("internal detail")

    log = io.StringIO()
    recorder = Recorder()

    async def main() -> dict:
        alerter = Alerter(
            [Hang(), Broken(), recorder], timeout=0.05, retries=1, backoff=0, log=LogSink(log)
        )
        async with alerter:
            alerter.notify(alert())
        return alerter.stats()

    stats = asyncio.run(main())
    assert stats["sent"] == {"hang": 0, "broken": 0, "recorder": 1}
    assert stats["failed"] == {"hang": 1, "broken": 1, "recorder": 0}
    errors = {line["sink"]: line["error"] for line in log_lines(log)}
    assert errors == {"hang": "no answer within 0.05 s", "broken": "RuntimeError"}


# -- telegram -----------------------------------------------------------------------------


def test_telegram_sends_message_to_the_bot_url(serve, monkeypatch):
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", TOKEN)
    server = serve(Reply(200, b'{"ok": true, "result": {"message_id": 1}}'))

    async def main() -> dict:
        alerter = Alerter([TelegramSink(chat_id=-100123, api_base=server.url)], retries=0)
        async with alerter:
            alerter.notify(alert(fields={"symbol": "BTCUSDT"}))
        return alerter.stats()

    assert asyncio.run(main())["sent"] == {"telegram": 1}
    [request] = server.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert json.loads(request.body) == {
        "chat_id": -100123,
        "text": "[CRITICAL] breaker_tripped: daily loss breaker tripped\n"
        "loss 3.1% over limit 3%\nsymbol: BTCUSDT",
    }


def test_telegram_token_never_leaks(serve, monkeypatch, caplog):
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    failing = serve(Reply(500, b'{"ok": false}'))
    not_ok = serve(Reply(200, b'{"ok": false, "description": "chat not found"}'))
    limited = serve(Reply(429, b"{}", {"Retry-After": "0"}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    log = io.StringIO()
    texts: list[str] = []

    async def main() -> dict:
        sinks = [
            TelegramSink(chat_id=1, api_base=failing.url, name="t500"),
            TelegramSink(chat_id=1, api_base=not_ok.url, name="tnotok"),
            TelegramSink(chat_id=1, api_base=limited.url, name="t429"),
            TelegramSink(chat_id=1, api_base=refused, name="trefused"),
        ]
        for sink in sinks:
            texts.append(repr(sink))
            with pytest.raises(SinkError) as info:
                await sink.send(alert())
            texts.append(str(info.value))
            texts.append(repr(info.value))
            texts.append("".join(traceback.format_exception(info.value)))
        alerter = Alerter(sinks, retries=1, backoff=0, log=LogSink(log))
        texts.append(repr(alerter))
        async with alerter:
            alerter.notify(alert())
        return alerter.stats()

    stats = asyncio.run(main())
    assert stats["failed"] == {"t500": 1, "tnotok": 1, "t429": 1, "trefused": 1}
    texts.append(log.getvalue())
    texts.append(caplog.text)
    texts.extend(str(record.__dict__) for record in caplog.records)
    # httpx did log the requests, so the redaction was exercised, not bypassed.
    assert "HTTP Request" in caplog.text and "/bot***/sendMessage" in caplog.text
    assert len(log_lines(log)) == 4
    for text in texts:
        assert TOKEN not in text
        assert "very-secret" not in text


def test_telegram_needs_its_token_in_the_environment(monkeypatch):
    monkeypatch.delenv("RG_TG_MISSING", raising=False)
    with pytest.raises(RiskError, match="token_env: environment variable RG_TG_MISSING"):
        TelegramSink(chat_id=1, token_env="RG_TG_MISSING")


# -- dedup, rate limits, overflow ---------------------------------------------------------


def test_dedup_within_the_window_with_a_fake_clock():
    clock = FakeClock()
    recorder = Recorder()

    async def main() -> tuple[list[bool], dict]:
        alerter = Alerter([recorder], dedup_seconds=30, rate_limit_per_kind=None, clock=clock)
        async with alerter:
            results = [alerter.notify(alert()), alerter.notify(alert())]
            results.append(alerter.notify(alert(message="a different message")))
            results.append(alerter.notify(alert(kind="control")))  # another kind: not a duplicate
            clock.now += 29.9
            results.append(alerter.notify(alert()))
            clock.now += 0.2  # 30.1 s after the first was accepted
            results.append(alerter.notify(alert()))
        return results, alerter.stats()

    results, stats = asyncio.run(main())
    assert results == [True, False, True, True, False, True]
    assert stats["deduplicated"] == {"breaker_tripped": 2}
    assert stats["sent"] == {"recorder": 4}
    assert [a.message for a in recorder.alerts] == [
        "loss 3.1% over limit 3%",
        "a different message",
        "loss 3.1% over limit 3%",
        "loss 3.1% over limit 3%",
    ]


def test_rate_limit_per_kind_is_a_token_bucket_on_the_injected_clock():
    clock = FakeClock()
    recorder = Recorder()

    async def main() -> tuple[list[bool], dict]:
        alerter = Alerter([recorder], rate_limit_per_kind=(2, 10.0), dedup_seconds=0, clock=clock)
        async with alerter:
            burst = [alerter.notify(alert(f"a{i}")) for i in range(4)]
            other = [alerter.notify(alert(f"c{i}", kind="control")) for i in range(2)]
            clock.now += 5.0  # refills one token
            later = [alerter.notify(alert(f"b{i}")) for i in range(2)]
        return burst + other + later, alerter.stats()

    results, stats = asyncio.run(main())
    assert results == [True, True, False, False, True, True, True, False]
    assert stats["rate_limited"] == {"breaker_tripped": 3}
    assert [a.title for a in recorder.alerts] == ["a0", "a1", "c0", "c1", "b0"]


def test_rate_limit_on_the_alerts_own_timestamps():
    recorder = Recorder()
    second = 1_000_000_000

    async def main() -> list[bool]:
        alerter = Alerter([recorder], rate_limit_per_kind=(1, 60.0), dedup_seconds=0, clock="alert")
        async with alerter:
            return [
                alerter.notify(alert("x", ts=0)),
                alerter.notify(alert("y", ts=59 * second)),
                alerter.notify(alert("z", ts=121 * second)),
            ]

    assert asyncio.run(main()) == [True, False, True]


def test_a_full_queue_is_counted_and_logged_not_silent():
    recorder = Recorder()
    log = io.StringIO()

    async def main() -> tuple[list[bool], dict, dict]:
        alerter = Alerter([recorder], queue_size=2, dedup_seconds=0, log=LogSink(log))
        # No worker yet, so the queue only fills.
        results = [alerter.notify(alert(f"alert {i}")) for i in range(5)]
        full = alerter.stats()
        await alerter.start()
        await alerter.aclose()
        return results, full, alerter.stats()

    results, full, after = asyncio.run(main())
    assert results == [True, True, False, False, False]
    assert full["overflowed"] == {"recorder": 3}
    assert full["queued"] == {"recorder": 2}
    assert after["sent"] == {"recorder": 2}
    lines = log_lines(log)
    assert [line["event"] for line in lines] == ["alert_overflow"] * 3
    assert [line["alert"]["title"] for line in lines] == ["alert 2", "alert 3", "alert 4"]
    assert [line["overflowed"] for line in lines] == [1, 2, 3]
    assert all(line["level"] == "critical" and line["sink"] == "recorder" for line in lines)


def test_closing_without_draining_logs_what_was_not_delivered():
    log = io.StringIO()

    async def main() -> dict:
        alerter = Alerter([Recorder()], dedup_seconds=0, log=LogSink(log))
        alerter.notify(alert("never started"))
        await alerter.aclose()
        assert alerter.notify(alert("too late")) is False
        return alerter.stats()

    stats = asyncio.run(main())
    assert stats["failed"] == {"recorder": 1}
    assert stats["closed"] == {"after_close": 1}
    events = [(line["event"], line["alert"]["title"]) for line in log_lines(log)]
    assert events == [("alert_undelivered", "never started"), ("alert_after_close", "too late")]


def test_notify_never_raises_even_on_a_wrong_argument():
    log = io.StringIO()
    alerter = Alerter([Recorder()], log=LogSink(log))
    assert alerter.notify("not an alert") is False  # type: ignore[arg-type]
    assert log_lines(log)[0]["event"] == "alert_invalid"


# -- backoff, log sink, construction ------------------------------------------------------


def test_backoff_is_exponential_jittered_bounded_and_seedable():
    def delays(seed: int) -> list[float]:
        alerter = Alerter([Recorder()], backoff=1.0, max_backoff=8.0, seed=seed)
        return [alerter._delay(attempt) for attempt in range(6)]

    first = delays(7)
    assert first == delays(7)
    assert first != delays(8)
    for attempt, delay in enumerate(first):
        base = min(8.0, 2.0**attempt)
        assert base / 2 <= delay <= base
    alerter = Alerter([Recorder()], backoff=0.01, max_backoff=5.0, seed=1)
    assert alerter._delay(0, retry_after=3.0) == 3.0
    assert alerter._delay(0, retry_after=60.0) == 5.0


def test_log_sink_writes_json_lines_to_a_file(tmp_path):
    path = tmp_path / "alerts.jsonl"

    async def main() -> None:
        sink = LogSink(path=str(path))
        await sink.send(alert(severity="warning", fields={"symbol": "ETHUSDT"}))
        await sink.send(alert(severity="info", title="resumed", kind="control"))
        await sink.aclose()

    asyncio.run(main())
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["event"] == "alert" and first["level"] == "warning"
    assert first["fields"] == {"symbol": "ETHUSDT"} and first["ts"] == 1_700_000_000_000_000_000
    assert "logged_at" in first
    assert (second["level"], second["kind"], second["title"]) == ("info", "control", "resumed")


def test_sinks_from_dicts(monkeypatch, tmp_path):
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", TOKEN)
    hook = sink_from_dict({"type": "webhook", "url": "https://hooks.example/x?key=k", "timeout": 3})
    assert isinstance(hook, WebhookSink) and hook.timeout == 3.0
    assert "key=k" not in repr(hook)
    tg = sink_from_dict({"type": "telegram", "chat_id": 5, "api_base": "http://127.0.0.1:9"})
    assert isinstance(tg, TelegramSink) and TOKEN not in repr(tg)
    log = sink_from_dict({"type": "log", "path": str(tmp_path / "a.jsonl"), "name": "audit"})
    assert isinstance(log, LogSink) and log.name == "audit"
    two = Alerter([WebhookSink("http://127.0.0.1:9"), WebhookSink("http://127.0.0.1:9")])
    assert two.sink_names == ["webhook", "webhook#2"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "email"}, r"^type: unknown sink type 'email'; known: log, telegram, webhook"),
        ({"url": "http://x"}, r"^type: unknown sink type None"),
        ({"type": "webhook"}, r"^url: required for a webhook sink"),
        ({"type": "webhook", "url": "ftp://x"}, r"^url: must be an http\(s\) URL"),
        ({"type": "webhook", "url": 5}, r"^url: must be a string URL"),
        ({"type": "webhook", "url": "http://x", "timeout": 0}, r"^timeout: must be a positive"),
        ({"type": "webhook", "url": "http://x", "timout": 1}, r"^timout: unknown field"),
        ({"type": "webhook", "url": "http://x", "headers": {"a": 1}}, r"^headers: must be"),
        ({"type": "telegram"}, r"^chat_id: required for a telegram sink"),
        ({"type": "telegram", "chat_id": True}, r"^chat_id: must be an integer"),
        ({"type": "log", "path": 3}, r"^path: must be a string"),
        ({"type": "log", "name": ""}, r"^name: must be a non-empty string"),
        ("webhook", r"^sink: must be a table/dict"),
    ],
)
def test_bad_sink_dicts_name_the_field(spec, message, monkeypatch):
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", TOKEN)
    with pytest.raises(RiskError, match=message):
        sink_from_dict(spec)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_limit_per_kind": (0, 1.0)}, r"^rate_limit_per_kind: n must be"),
        ({"rate_limit_per_kind": (1, 0)}, r"^rate_limit_per_kind: per_seconds"),
        ({"rate_limit_per_kind": 5}, r"^rate_limit_per_kind: must be"),
        ({"dedup_seconds": -1}, r"^dedup_seconds:"),
        ({"retries": 1.5}, r"^retries:"),
        ({"timeout": 0}, r"^timeout:"),
        ({"queue_size": 0}, r"^queue_size:"),
        ({"clock": 3}, r"^clock:"),
    ],
)
def test_bad_alerter_arguments_name_the_field(kwargs, message):
    with pytest.raises(RiskError, match=message):
        Alerter([Recorder()], **kwargs)


def test_alert_validates_its_fields():
    with pytest.raises(RiskError, match="^severity: must be one of info, warning, critical"):
        Alert(kind="x", severity="fatal")
    with pytest.raises(RiskError, match="^kind:"):
        Alert(kind="")
    with pytest.raises(RiskError, match="^fields:"):
        Alert(kind="x", fields=[1])  # type: ignore[arg-type]


def test_a_webhook_urls_credentials_stay_out_of_reprs_and_httpx_logs(caplog):
    import logging

    from riskguard.alerts import WebhookSink

    sink = WebhookSink("https://user:SECRETPW@hooks.example/risk/SECRETPATH?key=SECRETKEY")
    assert "SECRET" not in repr(sink)
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            "HTTP Request: POST https://user:SECRETPW@hooks.example/risk/SECRETPATH?key=SECRETKEY"
        )
    assert caplog.records and "SECRET" not in caplog.text


def test_secrets_never_travel_in_an_alert_or_a_sink_error(tmp_path):
    """Issue 14, row 12: an alert quoting a driver's error (a URL with its password, a DSN, a
    bearer token) is redacted when it is made, so that no sink (a log file, a webhook, a chat)
    ever receives the secret; a bad webhook URL is refused without repeating its key."""
    path = tmp_path / "alerts.jsonl"
    leak = Alert(
        kind="journal_failure",
        severity="critical",
        title="journal write failed at postgresql://rg:Qz7AlertPw@db/risk",
        message="connection failed: host=db user=rg password=Qz7AlertPw; Bearer Qz7Bearer",
        fields={"url": "postgresql+psycopg://rg:Qz7AlertPw@db/risk", "attempts": 3},
    )
    sink = LogSink(path=path)

    async def main() -> None:
        await sink.send(leak)
        await sink.aclose()

    asyncio.run(main())
    text = path.read_text() + json.dumps(leak.to_dict()) + TelegramSink.format(leak)
    assert "Qz7AlertPw" not in text and "Qz7Bearer" not in text
    assert "rg:***@db/risk" in text and leak.fields["attempts"] == 3
    for url in ("ftp://u:Qz7AlertPw@hooks.example/Qz7Key", "https://u:Qz7AlertPw@:99/Qz7Key"):
        with pytest.raises(RiskError, match="^url: must be an http") as info:
            sink_from_dict({"type": "webhook", "url": url})
        assert "Qz7AlertPw" not in str(info.value) and "Qz7Key" not in str(info.value)


def test_a_sink_timeout_has_an_upper_bound():
    with pytest.raises(RiskError, match="^timeout: .*at most 3600"):
        sink_from_dict({"type": "webhook", "url": "https://hooks.example/x", "timeout": 1e300})
