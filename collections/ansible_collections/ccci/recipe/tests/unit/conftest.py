"""Make the collection importable as ``ansible_collections.ccci.recipe``.

ansible.cfg points Ansible at ``./collections``; pytest needs the same folder on
``sys.path`` (ansible-test units would put it there too).
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
