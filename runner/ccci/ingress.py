"""How clients reach the run's app: through the host's proxy by its names, or directly.

In ``traefik`` mode (the default) the app publishes no port: it is reached as a user's
browser would, at ``https://<domain>:<proxy https port>/`` on the host's loopback,
with the name in SNI and Host and the proxy's CA (the host's own) as the trust
anchor. In ``direct`` mode (recipes without Traefik labels) the app's HTTP port is
published on a leased host port and reached at ``http://<domain>:<port>/``.

Either way the names are not in any DNS: Python code that talks to the app (hooks,
marker probes, later the functional tier's fixtures) runs inside ``reach``, which
makes exactly the run's names resolve to 127.0.0.1 for that process, points
requests and ``ssl`` at a CA bundle holding the proxy's CA, and keeps the names away
from any HTTP(S) proxy of the environment. Nothing else resolves differently, so no
traffic goes anywhere but loopback because of it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ccci.errors import BadInput
from ccci.names import check_domain
from ccci.rundir import CA_BUNDLE, PROXY_CA

TRAEFIK, DIRECT = "traefik", "direct"
MODES = (TRAEFIK, DIRECT)
# The proxy role's defaults (roles/proxy/defaults/main.yml; a unit test keeps them equal).
PROXY_HTTPS_PORT = 18443
PROXY_DOMAIN = "ccci.test"
PROXY_ROOT = "/var/lib/ccci/proxy"
PROXY_ACCESS_LOG = f"{PROXY_ROOT}/log/access.log"
HOST_CA = f"{PROXY_ROOT}/ca/ca.crt"
LOOPBACK = "127.0.0.1"
_PROXY_VARS = ("NO_PROXY", "no_proxy")


@dataclass
class Ingress:
    """How the run's app is reached; planned once, in ``context.host["ingress"]``."""

    mode: str
    scheme: str
    # The port clients connect to on the host's loopback: the proxy's https port, or
    # the app's published port (direct mode).
    port: int
    # The names the app answers to: the run's domain first, then its aliases.
    names: list[str]
    # The proxy's CA on the swarm host and its copy in the run directory (traefik mode).
    ca_host: str | None = None
    ca_controller: str | None = None
    # Aliases the proxy's default certificate does not cover (a wildcard covers one
    # label): the deploy has the proxy sign a certificate for them, teardown removes it.
    certificate_names: list[str] = field(default_factory=list)
    # The proxy's access log on the host, whose lines for ``names`` the run keeps.
    access_log: str | None = None

    @property
    def domain(self) -> str:
        return self.names[0]

    @property
    def aliases(self) -> list[str]:
        return self.names[1:]

    @property
    def base_url(self) -> str:
        """The app's root URL as a user would type it (no trailing slash)."""
        return f"{self.scheme}://{self.domain}:{self.port}"

    def url(self, name: str, path: str = "/") -> str:
        return f"{self.scheme}://{name}:{self.port}{path}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def seen_at(self, port: int | None) -> Ingress:
        """The ingress as a controller reaches it through a forward to its own ``port``
        (``ccci.forward``); itself when nothing is forwarded."""
        return replace(self, port=int(port)) if port else self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ingress:
        return cls(**data)

    def ca_bundle(self, run_dir: Path | str) -> Path | None:
        """certifi's CAs plus the proxy's, in the run directory; None in direct mode.

        Written when missing or older than the CA copy, so clients verify public names
        as usual and the run's names against the proxy's CA only.
        """
        if not self.ca_controller:
            return None
        ca, bundle = Path(self.ca_controller), Path(run_dir) / CA_BUNDLE
        if not ca.is_file():
            raise BadInput(f"the proxy's CA is not in the run directory ({ca}): the checks "
                           "copy it from the host; was the app checked?")
        if not bundle.is_file() or bundle.stat().st_mtime < ca.stat().st_mtime:
            import certifi

            body = Path(certifi.where()).read_text() + "\n# ccci proxy CA\n" + ca.read_text()
            tmp = bundle.with_name(f".{bundle.name}.{os.getpid()}")
            tmp.write_text(body)
            os.replace(tmp, bundle)
        return bundle

    def chromium_args(self) -> list[str]:
        """Chromium's flag making the run's names resolve to the host's loopback."""
        rules = ", ".join(f"MAP {name} {LOOPBACK}" for name in self.names)
        return [f"--host-resolver-rules={rules}"]


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise BadInput(f"unknown ingress {mode!r}: choose {' or '.join(MODES)}")
    return mode


def alias_names(domain: str, configured: Sequence[str], given: Sequence[str]) -> list[str]:
    """The run's aliases: the CI config's EXTRA_DOMAINS (``${DOMAIN}`` replaced by the
    run's domain) then the command line's, each a DNS name, once, never the domain."""
    found: list[str] = []
    for raw in [*configured, *given]:
        name = check_domain(str(raw).replace("${DOMAIN}", domain).replace("$DOMAIN", domain)
                            .strip().lower().rstrip("."))
        if name != domain and name not in found:
            found.append(name)
    return found


def covered_by_default_certificate(name: str, proxy_domain: str = PROXY_DOMAIN) -> bool:
    """Whether ``proxy_domain`` or ``*.<proxy_domain>`` (the default certificate) covers it."""
    return name == proxy_domain or (name.endswith(f".{proxy_domain}")
                                    and "." not in name[: -len(proxy_domain) - 1])


def plan_ingress(
    mode: str, domain: str, aliases: Sequence[str], run_dir: Path | str,
    published_port: int | None = None,
) -> Ingress:
    """The run's ingress. Traefik mode: every name must be under the CI domain (the
    proxy's CA signs nothing else); direct mode needs the leased ``published_port``."""
    names = [domain, *aliases]
    if check_mode(mode) == DIRECT:
        if not published_port:
            raise BadInput("direct ingress needs a published port")
        return Ingress(DIRECT, "http", int(published_port), names)
    outside = [n for n in names if not n.endswith(f".{PROXY_DOMAIN}")]
    if outside:
        raise BadInput(
            f"{', '.join(outside)} is not under {PROXY_DOMAIN}: the proxy's CA signs names "
            f"under {PROXY_DOMAIN} only; use such names, or --ingress direct")
    return Ingress(
        TRAEFIK, "https", PROXY_HTTPS_PORT, names, ca_host=HOST_CA,
        ca_controller=str(Path(run_dir) / PROXY_CA),
        certificate_names=[n for n in aliases if not covered_by_default_certificate(n)],
        access_log=PROXY_ACCESS_LOG,
    )


def extra_domains_value(aliases: Sequence[str]) -> str:
    """``EXTRA_DOMAINS`` as Co-op Cloud recipes expect it: ``, `www.x`, `y.x```."""
    return "".join(f", `{name}`" for name in aliases)


# -- reaching the app from Python ------------------------------------------------------


def of_run(planned: dict[str, Any], run_dir: Path | str, app_port: int | None = None,
           ) -> tuple[Ingress, Path | None]:
    """A run's ingress (``context.host["ingress"]``) as this controller reaches it (the
    forwarded ``app_port`` of a remote host) and its CA bundle, for ``reach``; no bundle
    before a check copied the proxy's CA (or in direct mode)."""
    reached = Ingress.from_dict(planned).seen_at(app_port)
    has_ca = bool(reached.ca_controller) and Path(str(reached.ca_controller)).is_file()
    return reached, reached.ca_bundle(run_dir) if has_ca else None


def _normal(host: Any) -> str | None:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host.lower().rstrip(".") if isinstance(host, str) else None


@contextlib.contextmanager
def reach(ingress: Ingress, ca_bundle: Path | str | None = None) -> Iterator[None]:
    """Within the block, this process reaches the app by its names, as a browser would.

    ``socket.getaddrinfo`` answers 127.0.0.1 for exactly the run's names (anything
    else resolves as before); ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE`` name the
    bundle, so ``requests`` and ``ssl.create_default_context()`` verify the proxy's
    certificate with SNI; ``NO_PROXY`` lists the names, so an HTTP(S) proxy of the
    environment is never asked for them. Everything is restored on exit. Meant for
    one process (a hook's child, a test session): it is not thread-safe.
    """
    names = {n.lower() for n in ingress.names}
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:
        if _normal(host) in names:
            return original(LOOPBACK, port, socket.AF_INET, type, proto, flags)
        return original(host, port, family, type, proto, flags)

    saved = {k: os.environ.get(k) for k in (*_PROXY_VARS, "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    socket.getaddrinfo = getaddrinfo
    try:
        for key in _PROXY_VARS:
            os.environ[key] = ",".join(filter(None, [saved[key], *ingress.names]))
        if ca_bundle:
            os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(ca_bundle)
        yield
    finally:
        socket.getaddrinfo = original
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ENTERED: list[contextlib.AbstractContextManager[None]] = []


def enter(ingress: Ingress, ca_bundle: Path | str | None) -> None:
    """``reach`` for the rest of this process's life (a hook's child, which ends after).

    The context manager is kept: a collected generator would run its ``finally``.
    """
    entered = reach(ingress, ca_bundle)
    entered.__enter__()
    _ENTERED.append(entered)
