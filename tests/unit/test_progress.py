"""Progress lines: plain in CI, no task results (they may hold secrets)."""

import io

from ccci.progress import Progress


def _event(kind, **data):
    return {"event": kind, "event_data": data}


def test_plain_lines_name_stage_and_task_and_hide_results():
    out = io.StringIO()
    progress = Progress(out, live=False)
    progress.stage_start("install")
    progress.event(_event("playbook_on_task_start", task="Deploy the stack"))
    progress.event(_event("playbook_on_task_start",
                          task="Validating arguments against arg spec 'main'"))
    progress.event(_event("runner_on_ok", task="Deploy the stack", res={"stdout": "s3cret"}))
    progress.event(_event("runner_on_failed", task="Wait for the stack to converge",
                          res={"msg": "service x failed: task: non-zero exit (1)\nlogs..."}))
    progress.stage_end("install", "failed", 12.5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "== install"
    assert lines[1].startswith("[install") and lines[1].endswith("] Deploy the stack")
    assert "FAILED Wait for the stack to converge: service x failed" in lines[2]
    assert lines[3] == "== install: failed in 12.5s"
    assert "s3cret" not in out.getvalue()
    assert "arg spec" not in out.getvalue()
