# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the check role requests, worked out on the controller from the run context.

Through the proxy: each of the run's names under each router of the live plan that
matches it (at the router's path prefix, else HEALTH_PATH), with what a failure would
mean read from the labels (``ccci.routing``). Directly: each name at HEALTH_PATH on
the published port.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

IMPORT_ERROR = ""
try:
    from ccci.routing import direct_targets, probe_targets, router_from_dict
except ImportError as exc:  # pragma: no cover - reported when the filter is used
    probe_targets = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def app_probe_targets(run: dict[str, Any], plan: str, health_path: str) -> list[dict]:
    """``ccci.recipe.app_probe`` targets for plan ``plan`` of the run context ``run``."""
    if probe_targets is None:
        raise AnsibleFilterError(
            f"app_probe_targets needs the ccci package on the controller ({IMPORT_ERROR})")
    ingress = run["host"]["ingress"]
    if ingress["mode"] == "direct":
        found = direct_targets(ingress["names"], health_path, run["plans"][plan]["http_port"])
    else:
        routers = [router_from_dict(r) for r in run["plans"][plan].get("routers") or []]
        found = probe_targets(routers, ingress["names"], health_path)
    return [target.as_dict() for target in found]


class FilterModule:
    """ccci.recipe.app_probe_targets."""

    def filters(self) -> dict[str, Any]:
        return {"app_probe_targets": app_probe_targets}
