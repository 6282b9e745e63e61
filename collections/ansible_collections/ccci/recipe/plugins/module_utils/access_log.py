# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Selecting the proxy's JSON access-log lines of some host names (module and action)."""

from __future__ import annotations

import json


def select(handle, hosts: set, since: str) -> tuple[list, int]:
    """The lines of ``hosts`` from ``since`` on, and how many lines were read."""
    found, scanned = [], 0
    for line in handle:
        scanned += 1
        line = line.strip()
        # A cheap test first: the log holds every app's requests.
        if not line or not any(host in line.lower() for host in hosts):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if str(entry.get("RequestHost", "")).lower() not in hosts:
            continue
        if since and str(entry.get("StartUTC", ""))[:19] < since[:19]:
            continue
        found.append(line)
    return found, scanned
