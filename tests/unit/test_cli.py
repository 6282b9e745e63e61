"""The command line: --tiers, and --stages kept working as a deprecated alias."""

from __future__ import annotations

import pytest

from ccci import cli
from ccci.orchestrator import AVAILABLE_TIERS


@pytest.fixture
def requested(monkeypatch):
    """Capture the RunRequest the CLI builds instead of running it."""
    seen = []

    class _Orchestrator:
        def __init__(self, request):
            seen.append(request)

        def run(self):
            raise SystemExit(0)

    monkeypatch.setattr(cli, "Orchestrator", _Orchestrator)
    return seen


def _tiers(requested, *argv):
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site", *argv])
    return requested[-1].tiers


def test_tiers_default_and_selection(requested):
    assert _tiers(requested) == AVAILABLE_TIERS
    assert _tiers(requested, "--tiers", "install, backup,") == ("install", "backup")


def test_stages_is_a_deprecated_alias(requested, capsys):
    assert _tiers(requested, "--stages", "install,restore") == ("install", "restore")
    assert "--stages is deprecated, use --tiers" in capsys.readouterr().err


def test_ingress_and_aliases(requested):
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site"])
    assert (requested[-1].ingress, requested[-1].extra_domains) == ("traefik", ())
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site", "--ingress", "direct", "--extra-domain",
                  "www.${DOMAIN}", "--extra-domain", "a.ccci.test"])
    assert requested[-1].ingress == "direct"
    assert requested[-1].extra_domains == ("www.${DOMAIN}", "a.ccci.test")
    with pytest.raises(SystemExit) as refused:
        cli.main(["run", "example-site", "--ingress", "nginx"])
    assert refused.value.code == 2
