"""The functional tier (L4): a recipe's own pytest suite and ccci's generic checks,
run as one pytest session against the live fresh app.

- ``session``: runs the session in a child process of its own, bounded in time, and
  reads back what every test did;
- ``plugin``: the pytest plugin loaded into that session: the fixtures a recipe's tests
  get (``app``, ``http``, ``host``, ``service``, ``page``, ``deps``), the per-test
  timeout, and the report it writes for ``session``;
- ``browser``: Debian's chromium driven by Playwright, trusting the proxy's CA and
  resolving the run's names to the host's loopback;
- ``generic``: the checks every recipe gets (converged, stable tasks, health, version
  label, no secret leaked, a screenshot).
"""
