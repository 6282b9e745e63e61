"""Results people look at: a run's report.html, its summary card and badge, and the
dashboard over all runs. Rendered from the run directory's records with Jinja2
templates; every page is self-contained (no external asset), so it opens from disk."""
