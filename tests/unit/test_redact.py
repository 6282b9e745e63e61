"""ansible-runner's command artifact keeps variable names, not the environment's values."""

import json

from ccci.redact import REDACTED, redact_command_file


def test_values_are_redacted_except_those_ccci_set(tmp_path):
    command = tmp_path / "command"
    command.write_text(json.dumps({
        "command": ["ansible-playbook", "install.yml"], "cwd": "/p",
        "env": {"DRONE_TOKEN": "tok-123", "CI_SMTP_PASSWORD": "pw", "HOME": "/root",
                "ANSIBLE_CONFIG": "/p/ansible.cfg"},
    }))
    assert redact_command_file(tmp_path, keep={"ANSIBLE_CONFIG"})
    text = command.read_text()
    assert "tok-123" not in text and '"pw"' not in text
    record = json.loads(text)
    assert record["env"] == {"DRONE_TOKEN": REDACTED, "CI_SMTP_PASSWORD": REDACTED,
                             "HOME": "/root", "ANSIBLE_CONFIG": "/p/ansible.cfg"}
    assert record["command"] == ["ansible-playbook", "install.yml"]
    assert command.stat().st_mode & 0o777 == 0o600
    assert redact_command_file(tmp_path)  # again: nothing left to change


def test_a_stage_that_has_not_written_its_command_yet_is_left_alone(tmp_path):
    assert not redact_command_file(tmp_path)
    (tmp_path / "command").write_text("{partial")
    assert not redact_command_file(tmp_path)
