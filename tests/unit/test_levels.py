"""The level ladder, from tier verdicts alone."""

from ccci.levels import level


def test_ladder():
    assert level({"install": ("failed", "x")}) == 0
    assert level({"install": ("passed", "")}) == 1
    assert level({"install": ("passed", ""), "upgrade": ("skipped", "only one version")}) == 2
    assert level({"install": ("passed", ""), "upgrade": ("skipped", "")}) == 1
    both = {"install": ("passed", ""), "upgrade": ("passed", ""),
            "backup": ("passed", ""), "restore": ("failed", "marker lost")}
    assert level(both) == 2
    both["restore"] = ("passed", "")
    assert level(both) == 3
