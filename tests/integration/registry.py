"""A real image registry on loopback for pull-path tests: Debian's ``docker-registry``.

Each test module starts its own registry process, on a free port of its own and with a
storage root of its own, and stops it by its pid; so parallel test workers never share
one. Pushing the 500 MB example image takes about a minute (the layer is gzipped), so
the pushed storage is made once per example image and copied into each registry's
root: a cache under ``/var/tmp/ccci-test-registry/<image id>``, made under a lock so
parallel workers make it once, and replaced when the example images are rebuilt.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINARY = "docker-registry"
CACHE_ROOT = Path("/var/tmp/ccci-test-registry")
SOURCE_IMAGE = "ccci-example/nginx:1.22"
# Repository and tags every registry serves (all the example nginx image).
REPOSITORY = "ccci/nginx"
TAGS = ("1.22", "1.23")

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def ensure_installed() -> str:
    """The registry binary; apt-installs Debian's package when missing and root."""
    found = shutil.which(BINARY)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "docker-registry"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which(BINARY)
    assert found, "docker-registry is missing: run scripts/prepare (it apt-installs it)"
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalRegistry:
    """One ``docker-registry serve`` process on 127.0.0.1, started and stopped by pid."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root = root
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def image(self, tag: str) -> str:
        return f"{self.address}/{REPOSITORY}:{tag}"

    def start(self) -> None:
        """Serve ``root`` on a free port; a port taken in between is retried."""
        binary = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            self.port = _free_port()
            config = self.workdir / "config.yml"
            config.write_text(CONFIG.format(root=self.root, port=self.port))
            with (self.workdir / "registry.log").open("ab") as log:
                self.process = subprocess.Popen(
                    [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            if self._answers(timeout=10):
                return
            self.stop()
        raise AssertionError(f"docker-registry did not start; see {self.workdir}/registry.log")

    def _answers(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Stop the process this object started (by its pid), and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def push(self, source: str, tag: str) -> None:
        target = self.image(tag)
        subprocess.run(["docker", "tag", source, target], check=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)

    def forget_local_tags(self) -> None:
        """Untag this registry's images in the local Docker (the image itself stays)."""
        listed = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
             f"{self.address}/{REPOSITORY}"], capture_output=True, text=True, check=False)
        for name in listed.stdout.split():
            subprocess.run(["docker", "rmi", name], capture_output=True, check=False)


def _image_id(image: str) -> str:
    found = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", image],
                           capture_output=True, text=True, check=True)
    return found.stdout.strip().removeprefix("sha256:")[:16]


def cached_storage(workdir: Path) -> Path:
    """Registry storage holding ``REPOSITORY`` at every tag of ``TAGS``, pushed once."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    cache = CACHE_ROOT / _image_id(SOURCE_IMAGE)
    with (CACHE_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "complete").exists():
            for stale in CACHE_ROOT.iterdir():
                if stale.is_dir():
                    shutil.rmtree(stale)
            seeding = LocalRegistry(cache / "root", workdir / "seed")
            seeding.start()
            try:
                for tag in TAGS:
                    seeding.push(SOURCE_IMAGE, tag)
            finally:
                seeding.stop()
                seeding.forget_local_tags()
            (cache / "complete").touch()
    return cache / "root"


@contextmanager
def running_registry(workdir: Path) -> Iterator[LocalRegistry]:
    """A registry of its own (a copy of the cached storage), stopped and untagged after."""
    root = workdir / "root"
    shutil.copytree(cached_storage(workdir), root)
    registry = LocalRegistry(root, workdir)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()
        registry.forget_local_tags()
