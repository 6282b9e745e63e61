"""The ``!testme`` bridge: a forge webhook in, a Drone build out, an answer on the PR.

A recipe maintainer comments ``!testme`` (or ``!testme --quick``) on a pull request of
an enrolled recipe repository on Gitea or Forgejo. The forge POSTs the comment to
``/hook``; the bridge

1. checks the signature (``X-Gitea-Signature`` / ``X-Forgejo-Signature``: hex
   HMAC-SHA256 of the raw body with the webhook secret) before reading anything else:
   401 when it is missing or wrong;
2. acts only on a new comment (event ``issue_comment``, action ``created``) of an open
   pull request whose body is exactly a trigger (surrounding whitespace aside), in an
   enrolled repository, by a user with write access (asked from the forge); anything
   else gets 202 ``ignored: <why>``, which the forge's delivery log shows;
3. refuses a second run of the same recipe and head while one is queued or running,
   and says so on the pull request. Drone is the record of what is queued: it is asked
   for its active builds each time (a restarted bridge forgets nothing), and a lock in
   this process closes the window between asking and creating;
4. otherwise creates the Drone build of ``drone_repo`` (on ``drone_branch``) with the
   parameters CCCI_RECIPE, CCCI_REF (head sha), CCCI_PR, CCCI_REPO and CCCI_QUICK,
   comments on the pull request that the run was queued (linking the build) and sets a
   pending commit status; ``ccci.ci.answer`` posts the result when the run ends.

One log line per delivery (event, repository, pull request, user, decision); never a
token or the secret. Listens on 127.0.0.1 unless the configuration says otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ccci.ci.config import ServiceConfig, is_loopback
from ccci.ci.drone import DroneClient, DroneError
from ccci.ci.forge import STATUS_CONTEXT, WRITE_PERMISSIONS, ForgeClient, ForgeError
from ccci.errors import BadInput

log = logging.getLogger("ccci.bridge")

HOOK_PATH = "/hook"
# The comment bodies that start a run, and whether each asks for a quick one.
TRIGGERS = {"!testme": False, "!testme --quick": True}
SIGNATURE_HEADERS = ("x-forgejo-signature", "x-gitea-signature")
EVENT_HEADERS = ("x-forgejo-event", "x-gitea-event")
DELIVERY_HEADERS = ("x-forgejo-delivery", "x-gitea-delivery")
MAX_BODY = 1 << 20  # a comment payload is a few KB; refuse anything unreasonable
QUEUED_MARKER = "<!-- ccci:queued -->"
SHA = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class Reply:
    """What the forge gets back: an HTTP status and a one-line reason."""

    status: int
    reason: str


def ignored(why: str) -> Reply:
    return Reply(202, f"ignored: {why}")


@dataclass(frozen=True)
class Trigger:
    """A ``!testme`` comment that passed the checks of the payload alone."""

    owner: str
    repo: str
    number: int
    user: str
    recipe: str
    quick: bool

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass
class Delivery:
    """What the log line of one delivery says (filled in as the checks go)."""

    id: str = "-"
    event: str = "-"
    repo: str = "-"
    pr: str = "-"
    user: str = "-"

    def line(self, reply: Reply) -> str:
        return (f"delivery {self.id} event={self.event} repo={self.repo} pr={self.pr} "
                f"user={self.user} -> {reply.status} {reply.reason}")


def clean(value: Any, limit: int = 120) -> str:
    """``value`` as one printable line, cut to ``limit``: safe to log whatever sent it."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return (text[:limit] + "…") if len(text) > limit else (text or "-")


class Bridge:
    """The decisions, apart from HTTP: ``handle(headers, body)`` gives the Reply."""

    def __init__(self, config: ServiceConfig, forge: ForgeClient | None = None,
                 drone: DroneClient | None = None) -> None:
        if config.webhook_secret is None:
            raise BadInput("bridge config: missing webhook_secret (set CCCI_WEBHOOK_SECRET)")
        self.config = config
        self.forge = forge or ForgeClient(config.forge_url, config.forge_token or "")
        self.drone = drone or DroneClient(config.drone_url, config.drone_token or "")
        self._key = config.webhook_secret.reveal().encode("utf-8")
        self._queue_lock = threading.Lock()

    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """The reply to one delivery, logged in one line; never raises."""
        lowered = {k.lower(): v for k, v in headers.items()}
        delivery = Delivery(id=clean(_first(lowered, DELIVERY_HEADERS) or "-", 64))
        try:
            reply = self._handle(lowered, body, delivery)
        except Exception as exc:  # a bug here must still answer, and say no more
            log.exception("delivery %s: internal error", delivery.id)
            reply = Reply(500, f"internal error: {type(exc).__name__}")
        reply = Reply(reply.status, clean(reply.reason, 500))
        log.info("%s", delivery.line(reply))
        return reply

    def _handle(self, headers: dict[str, str], body: bytes, delivery: Delivery) -> Reply:
        problem = self.signature_problem(headers, body)
        if problem:
            return Reply(401, problem)
        events = {clean(headers[h], 64) for h in EVENT_HEADERS if h in headers}
        if len(events) > 1:
            return Reply(400, "X-Gitea-Event and X-Forgejo-Event disagree")
        delivery.event = events.pop() if events else "-"
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Reply(400, "the body is not JSON")
        if not isinstance(payload, dict):
            return Reply(400, "the body is not a JSON object")
        found = self.trigger(delivery.event, payload, delivery)
        if isinstance(found, Reply):
            return found
        return self.start(found)

    def signature_problem(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the signature of ``body`` is not accepted, or None. Every signature header
        present must match; at least one must be."""
        given = [headers[h] for h in SIGNATURE_HEADERS if h in headers]
        if not given:
            return "missing signature (X-Gitea-Signature or X-Forgejo-Signature)"
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest().encode("ascii")
        if all(hmac.compare_digest(expected, g.strip().lower().encode("utf-8", "replace"))
               for g in given):
            return None
        return "bad signature"

    def trigger(self, event: str, payload: dict[str, Any],
                delivery: Delivery) -> Trigger | Reply:
        """The trigger ``payload`` carries, or the reply saying why it carries none.
        Only the payload is read here: no forge or Drone call."""
        if event != "issue_comment":
            return ignored(f"event {event}, not issue_comment")
        issue, comment, repository = (_mapping(payload, k) for k in
                                      ("issue", "comment", "repository"))
        if issue is None or comment is None or repository is None:
            return Reply(400, "payload lacks issue, comment or repository")
        owner, repo = _owner_repo(repository)
        number, user = issue.get("number"), _login(comment) or _login(payload, "sender")
        if not owner or not repo or not _is_number(number) or not user:
            return Reply(400, "payload lacks the repository, the issue number or the user")
        delivery.repo, delivery.pr, delivery.user = (
            clean(f"{owner}/{repo}"), str(number), clean(user, 64))
        if payload.get("action") != "created":
            return ignored(f"action {clean(payload.get('action'), 32)}, not created")
        if not (issue.get("pull_request") or payload.get("is_pull") is True):
            return ignored(f"issue {number} is not a pull request")
        if issue.get("state") != "open":
            return ignored(f"pull request {number} is {clean(issue.get('state'), 16)}")
        text = comment.get("body")
        if not isinstance(text, str) or text.strip() not in TRIGGERS:
            return ignored("the comment is not " + " or ".join(TRIGGERS))
        recipe = self.config.recipe_for(f"{owner}/{repo}")
        if recipe is None:
            return ignored(f"repository {clean(owner)}/{clean(repo)} is not enrolled")
        return Trigger(owner=owner, repo=repo, number=number, user=user, recipe=recipe,
                       quick=TRIGGERS[text.strip()])

    def start(self, trigger: Trigger) -> Reply:
        """Ask the forge whether ``trigger`` may start a run and of which head, then
        queue the run unless one is queued or running for that head."""
        try:
            permission = self.forge.permission(trigger.owner, trigger.repo, trigger.user)
        except ForgeError as exc:
            return Reply(502, f"permission not known: {exc}")
        if permission not in WRITE_PERMISSIONS:
            return ignored(f"{clean(trigger.user, 64)} has {clean(permission, 16)} access "
                           "to the repository, needs write")
        try:
            pull = self.forge.pull(trigger.owner, trigger.repo, trigger.number)
        except ForgeError as exc:
            return Reply(502, f"pull request not read: {exc}")
        if pull.get("state") != "open":
            return ignored(f"pull request {trigger.number} is {clean(pull.get('state'), 16)}")
        sha = str((_mapping(pull, "head") or {}).get("sha") or "").lower()
        if not SHA.fullmatch(sha):
            return Reply(502, f"pull request {trigger.number} has no head commit sha")
        return self.queue(trigger, sha)

    def queue(self, trigger: Trigger, sha: str) -> Reply:
        """Create the Drone build for ``trigger`` at ``sha``, or refuse a duplicate;
        either way say so on the pull request."""
        with self._queue_lock:
            try:
                active = self.drone.active_builds(self.config.drone_repo)
            except DroneError as exc:
                return Reply(502, f"active builds not known: {exc}")
            same = [b for b in active if b["params"].get("CCCI_RECIPE") == trigger.recipe
                    and str(b["params"].get("CCCI_REF", "")).lower() == sha]
            if same:
                build = same[0]
                note = self._comment(trigger, duplicate_text(self.config, trigger, sha, build))
                return Reply(200, f"duplicate: build #{build.get('number')} for {sha[:12]} "
                                  f"is already {clean(build.get('status'), 32)}{note}")
            try:
                build = self.drone.create_build(
                    self.config.drone_repo, self.config.drone_branch,
                    params=build_params(trigger, sha))
            except DroneError as exc:
                return Reply(502, f"build not created: {exc}")
        note = self._comment(trigger, queued_text(self.config, trigger, sha, build))
        note += self._pending(trigger, sha, build)
        return Reply(201, f"queued: build #{build['number']} of {self.config.drone_repo} "
                          f"for {trigger.recipe} at {sha[:12]}{note}")

    def _comment(self, trigger: Trigger, body: str) -> str:
        """Post ``body`` on the pull request; "" or a note on why it was not posted."""
        try:
            self.forge.create_comment(trigger.owner, trigger.repo, trigger.number, body)
        except ForgeError as exc:
            return f" (comment not posted: {exc})"
        return ""

    def _pending(self, trigger: Trigger, sha: str, build: dict[str, Any]) -> str:
        try:
            self.forge.set_status(
                trigger.owner, trigger.repo, sha, "pending",
                self.config.drone_build_url(build["number"]),
                f"ccci run queued (Drone build #{build['number']})", STATUS_CONTEXT)
        except ForgeError as exc:
            return f" (status not set: {exc})"
        return ""


def build_params(trigger: Trigger, sha: str) -> dict[str, str]:
    """The Drone build parameters (pipeline environment) of a run."""
    return {"CCCI_RECIPE": trigger.recipe, "CCCI_REF": sha, "CCCI_PR": str(trigger.number),
            "CCCI_REPO": trigger.full_name, "CCCI_QUICK": "true" if trigger.quick else "false"}


def queued_text(config: ServiceConfig, trigger: Trigger, sha: str,
                build: dict[str, Any]) -> str:
    mode = "quick run" if trigger.quick else "run"
    link = config.drone_build_url(build["number"])
    return (f"{QUEUED_MARKER}\nccci {mode} of `{trigger.recipe}` at `{sha[:12]}` queued "
            f"for @{trigger.user}: [Drone build #{build['number']}]({link}). "
            "The results will be posted here when it ends.")


def duplicate_text(config: ServiceConfig, trigger: Trigger, sha: str,
                   build: dict[str, Any]) -> str:
    status = "running" if build.get("status") == "running" else "queued"
    link = config.drone_build_url(build.get("number", "?"))
    return (f"{QUEUED_MARKER}\nA ccci run of `{trigger.recipe}` at `{sha[:12]}` is already "
            f"{status}: [Drone build #{build.get('number')}]({link}). Not starting another "
            "one for the same head; its results will be posted here.")


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((headers[n] for n in names if n in headers), None)


def _mapping(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return value if isinstance(value, dict) else None


def _login(data: Mapping[str, Any], key: str = "user") -> str:
    login = (_mapping(data, key) or {}).get("login")
    return login if isinstance(login, str) else ""


def _owner_repo(repository: dict[str, Any]) -> tuple[str, str]:
    full_name = repository.get("full_name")
    if isinstance(full_name, str) and full_name.count("/") == 1:
        owner, repo = full_name.split("/")
        return owner, repo
    name = repository.get("name")
    return _login(repository, "owner"), name if isinstance(name, str) else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# -- HTTP --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    server_version = "ccci-bridge"
    sys_version = ""

    def do_POST(self) -> None:
        if urlsplit(self.path).path != HOOK_PATH:
            return self._refuse(Reply(404, f"not found: only POST {HOOK_PATH} is served"))
        length = self.headers.get("Content-Length")
        if length is None:
            return self._refuse(Reply(411, "Content-Length required"))
        try:
            size = int(length)
        except ValueError:
            return self._refuse(Reply(400, "bad Content-Length"))
        if not 0 <= size <= MAX_BODY:
            return self._refuse(Reply(413, f"body over {MAX_BODY} bytes"))
        body = self.rfile.read(size)
        self._send(self.server.bridge.handle(dict(self.headers.items()), body))

    def _other(self) -> None:
        if urlsplit(self.path).path == HOOK_PATH:
            return self._refuse(Reply(405, f"method not allowed: only POST {HOOK_PATH}"))
        return self._refuse(Reply(404, f"not found: only POST {HOOK_PATH} is served"))

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _other

    def _refuse(self, reply: Reply) -> None:
        log.info("request %s %s -> %d %s", clean(self.command, 16), clean(self.path),
                 reply.status, reply.reason)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = (reply.reason + "\n").encode("utf-8")
        self.send_response(reply.status)
        if reply.status == 405:
            self.send_header("Allow", "POST")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class BridgeServer(ThreadingHTTPServer):
    """The bridge's HTTP server; ``url`` is where the forge's webhook points."""

    daemon_threads = True

    def __init__(self, bridge: Bridge, host: str, port: int) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.bridge = bridge
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}{HOOK_PATH}"


def make_server(config: ServiceConfig, bridge: Bridge | None = None) -> BridgeServer:
    """The bridge listening on the configured host and port (0: a free port). Raises
    BadInput for a non-loopback host not allowed, OSError when it cannot bind."""
    if not config.allow_non_loopback and not is_loopback(config.listen_host):
        raise BadInput(f"bridge: {config.listen_host} is not a loopback address")
    return BridgeServer(bridge or Bridge(config), config.listen_host, config.listen_port)


def serve(config: ServiceConfig, ready: Callable[[str], None] | None = None, *,
          stop: threading.Event | None = None) -> None:
    """Serve until Ctrl-C (or until ``stop`` is set); ``ready`` gets the hook's URL once
    the port is bound (default: print it)."""
    server = make_server(config)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    try:
        (ready or print)(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
