# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The images a deploy will run, read on the controller from the plan's compose files.

The deploy role pulls them before ``docker stack deploy`` when image resolution is on:
a tag the registry lacks, or a registry that is down, then fails the deploy at once
with the registry's own answer, instead of a task that cannot start failing the
convergence wait later, with only "No such image" to say why. Read with ccci's compose
reader, so the references are interpolated exactly as the deploy will interpolate them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

IMPORT_ERROR = ""
try:
    from ccci.compose import load_compose, read_compose_file
except ImportError as exc:  # pragma: no cover - reported when the filter is used
    load_compose = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def compose_images(checkout: str, compose_files: list[str], env: dict[str, Any],
                   overlays: list[str] | None = None) -> list[str]:
    """Image references of every service, in order, each once.

    ``compose_files`` are relative to ``checkout`` (the controller's copy of the plan);
    ``overlays`` are absolute paths (the enrolled recipe's ``compose.ccci.yml``), which
    may replace an image.
    """
    if load_compose is None:
        raise AnsibleFilterError(
            f"compose_images needs the ccci package on the controller ({IMPORT_ERROR})")
    environ = {str(k): str(v) for k, v in (env or {}).items()}
    try:
        project = load_compose(Path(checkout), list(compose_files), environ)
        images = {name: svc.get("image") for name, svc in project.services.items()}
        for overlay in overlays or []:
            path = Path(overlay)
            data = read_compose_file(path.parent, path.name, environ)
            for name, service in (data.get("services") or {}).items():
                if (service or {}).get("image"):
                    images[name] = service["image"]
    except Exception as exc:  # a BadInput from the reader: planning accepted it before
        raise AnsibleFilterError(f"compose_images: {exc}") from exc
    return list(dict.fromkeys(str(image) for image in images.values() if image))


class FilterModule:
    """ccci.recipe.compose_images."""

    def filters(self) -> dict[str, Any]:
        return {"compose_images": compose_images}
