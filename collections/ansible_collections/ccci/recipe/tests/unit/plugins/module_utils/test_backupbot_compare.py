"""Unit tests of the snapshot-versus-source comparison: manifests, stability, verdicts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest
from ansible_collections.ccci.recipe.plugins.module_utils import backupbot as bb
from ansible_collections.ccci.recipe.plugins.module_utils import backupbot_compare as bc
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot_compare import Entry

ROOT = "/var/lib/docker/volumes/s_data/_data"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file(data: bytes, mtime: int = 1) -> Entry:
    return Entry("file", len(data), mtime, sha(data))


def tar_of(root: str, files: dict[str, bytes], links: dict[str, str] | None = None) -> io.BytesIO:
    """A tar as ``restic dump`` writes one of directory ``root``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{root.lstrip('/')}/{rel}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for rel, target in (links or {}).items():
            info = tarfile.TarInfo(f"{root.lstrip('/')}/{rel}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    buffer.seek(0)
    return buffer


def ls_nodes(root: str, entries: dict[str, tuple[str, int]]) -> dict[str, dict]:
    """``restic ls --json`` nodes of ``root`` (a dir) and the entries below it."""
    lines = [json.dumps({"type": "dir", "path": root, "struct_type": "node"})]
    for rel, (kind, size) in entries.items():
        item = {"type": kind, "path": f"{root}/{rel}", "struct_type": "node"}
        if kind == "file":
            item["size"] = size
        lines.append(json.dumps(item))
    return bb.parse_ls("\n".join(lines))[1]


# ---------------------------------------------------------------- the source walk


def test_walk_source_lists_kinds_sizes_hashes_and_skips_sockets(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.txt").write_bytes(b"hello\n")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "big").write_bytes(b"x" * 100)
    (tmp_path / "link").symlink_to("sub/a.txt")
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        manifest = bc.walk_source(str(tmp_path), hash_limit=50)
    finally:
        sock.close()
    assert sorted(manifest) == ["big", "empty", "fifo", "link", "sub", "sub/a.txt"]
    assert manifest["sub"] == Entry("dir")
    a = manifest["sub/a.txt"]
    assert (a.kind, a.size, a.sha256) == ("file", 6, sha(b"hello\n"))
    assert a.mtime_ns == (tmp_path / "sub/a.txt").stat().st_mtime_ns
    assert manifest["empty"].sha256 == sha(b"")
    assert (manifest["big"].size, manifest["big"].sha256) == (100, None)  # above the limit
    assert manifest["link"] == Entry("symlink", link="sub/a.txt")
    assert manifest["fifo"] == Entry("fifo")


def test_walk_source_of_a_file_and_of_nothing(tmp_path: Path):
    dump = tmp_path / "dump.sql"
    dump.write_bytes(b"INSERT 1;\n")
    assert bc.walk_source(str(dump))[""].sha256 == sha(b"INSERT 1;\n")
    assert bc.walk_source(str(tmp_path / "missing")) == {}
    assert bc.walk_source(str(tmp_path / "empty-dir")) == {}
    (tmp_path / "empty-dir").mkdir()
    assert bc.walk_source(str(tmp_path / "empty-dir")) == {}


def test_stable_part_keeps_only_entries_identical_in_both_walks():
    before = {"same": file(b"a"), "edited": file(b"b", 1), "gone": file(b"c"), "d": Entry("dir")}
    after = {"same": file(b"a"), "edited": file(b"B", 2), "new": file(b"n"), "d": Entry("dir")}
    stable, changed = bc.stable_part(before, after)
    assert stable == {"same": file(b"a"), "d": Entry("dir")}
    assert changed == ["edited", "gone", "new"]


def test_a_touched_file_is_unstable_even_with_the_same_content():
    """A file above the hash limit has only size and mtime to show a change."""
    big_before, big_after = Entry("file", 10, 1), Entry("file", 10, 2)
    assert bc.stable_part({"f": big_before}, {"f": big_after}) == ({}, ["f"])


# ---------------------------------------------------------------- the snapshot side


def test_snapshot_manifest_of_a_dir_a_file_and_a_missing_path():
    nodes = ls_nodes(ROOT, {"a.txt": ("file", 6), "sub": ("dir", 0), "sub/f": ("fifo", 0)})
    assert bc.snapshot_manifest(ROOT, nodes) == {
        "a.txt": Entry("file", 6),
        "sub": Entry("dir"),
        "sub/f": Entry("fifo"),
    }
    assert bc.snapshot_manifest(f"{ROOT}/a.txt", nodes) == {"": Entry("file", 6)}
    assert bc.snapshot_manifest(f"{ROOT}/nope", nodes) == {}
    # A sibling whose name starts like the root is not below it.
    nodes.update(ls_nodes(ROOT + "2", {"x": ("file", 1)}))
    assert "x" not in bc.snapshot_manifest(ROOT, nodes)


def test_add_tar_digests_hashes_small_files_and_reads_link_targets():
    manifest = {
        "a.txt": Entry("file", 6),
        "big": Entry("file", 100),
        "fifo": Entry("fifo"),
        "l": Entry("symlink"),
    }
    stream = tar_of(ROOT, {"a.txt": b"hello\n", "big": b"x" * 100, "fifo": b""}, {"l": "a.txt"})
    hashed = bc.add_tar_digests(manifest, stream, ROOT, hash_limit=50)
    assert hashed["a.txt"].sha256 == sha(b"hello\n")
    assert hashed["big"].sha256 is None
    assert hashed["fifo"] == Entry("fifo")  # kinds come from restic ls, not the tar
    assert hashed["l"].link == "a.txt"
    assert bc.needs_content(manifest, 50) and not bc.needs_content({"big": manifest["big"]}, 50)


def test_an_unreadable_tar_raises():
    with pytest.raises(tarfile.TarError):
        bc.add_tar_digests({"a": Entry("file", 1)}, io.BytesIO(b"not a tar" * 200), ROOT, 10)


def test_add_file_digest_hashes_the_dump_of_a_declared_file():
    manifest = {"": Entry("file", 3)}
    assert bc.add_file_digest(manifest, io.BytesIO(b"abc"), 10)[""].sha256 == sha(b"abc")
    assert bc.add_file_digest(manifest, io.BytesIO(b"abc"), 2)[""].sha256 is None


# ---------------------------------------------------------------- the verdict


def test_a_faithful_snapshot_matches_with_counts():
    source = {"a": file(b"hello"), "d": Entry("dir"), "d/big": Entry("file", 100, 1)}
    snapshot = {
        "a": Entry("file", 5, sha256=sha(b"hello")),
        "d": Entry("dir"),
        "d/big": Entry("file", 100),
    }
    result = bc.compare_manifests(ROOT, source, [], snapshot, hash_limit=50)
    assert result.mismatches == [] and result.warnings() == []
    record = result.as_dict()
    assert {k: record[k] for k in ("entries", "files", "bytes", "hashed", "size_only")} == {
        "entries": 3,
        "files": 2,
        "bytes": 105,
        "hashed": 1,
        "size_only": 1,
    }
    assert record["hash_limit"] == 50


def test_same_size_other_content_is_a_mismatch_naming_the_file():
    source = {"uploads/a.txt": file(b"hello")}
    snapshot = {"uploads/a.txt": Entry("file", 5, sha256=sha(b"HELLO"))}
    [mismatch] = bc.compare_manifests(ROOT, source, [], snapshot).mismatches
    assert mismatch.startswith(f"{ROOT}/uploads/a.txt: content differs (sha256 ")


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        (None, "a.txt: at the source, missing from the snapshot"),
        (Entry("file", 2, sha256=sha(b"he")), "a.txt: 5 bytes at the source, 2 in the snapshot"),
        (Entry("dir"), "a.txt: a file at the source, a dir in the snapshot"),
        (Entry("file", 5), "a.txt: its content could not be read from the snapshot"),
    ],
)
def test_mismatches(copy: Entry | None, expected: str):
    snapshot = {} if copy is None else {"a.txt": copy}
    result = bc.compare_manifests(ROOT, {"a.txt": file(b"hello")}, [], snapshot)
    assert result.mismatches == [f"{ROOT}/{expected}"]


def test_a_symlink_pointing_elsewhere_is_a_mismatch():
    source = {"l": Entry("symlink", link="a")}
    assert bc.compare_manifests(ROOT, source, [], {"l": Entry("symlink")}).mismatches == []
    [mismatch] = bc.compare_manifests(
        ROOT, source, [], {"l": Entry("symlink", link="b")}
    ).mismatches
    assert "links to 'a' at the source, to 'b' in the snapshot" in mismatch


def test_changed_and_transient_entries_are_warnings_not_mismatches():
    source = {"kept": file(b"k")}
    snapshot = {"kept": Entry("file", 1, sha256=sha(b"k")), "log": Entry("file", 3),
                "tmp": Entry("file", 1)}
    result = bc.compare_manifests(ROOT, source, ["log"], snapshot)
    assert result.mismatches == []
    assert result.changed == ["log"] and result.transient == ["tmp"]
    changed, transient = result.warnings()
    assert changed.startswith(f"{ROOT}: 1 entr(ies) changed while the backup ran")
    assert changed.endswith(f"{ROOT}/log")
    assert f"{ROOT}/tmp" in transient and "neither before nor after" in transient


def test_long_lists_are_cut_but_counted():
    changed = [f"f{i:02}" for i in range(25)]
    result = bc.compare_manifests(ROOT, {}, changed, {})
    record = result.as_dict()
    assert record["changed"] == 25 and len(record["changed_paths"]) == bc.LISTED
    assert result.warnings()[0].endswith("and 15 more")


def test_a_declared_file_is_compared_under_its_own_path():
    result = bc.compare_manifests(f"{ROOT}/dump.sql", {"": file(b"x")}, [], {})
    assert result.mismatches == [f"{ROOT}/dump.sql: at the source, missing from the snapshot"]


def test_end_to_end_on_a_tree_and_its_tar(tmp_path: Path):
    """Walk a real tree, build the tar restic would dump, then corrupt one file's copy."""
    (tmp_path / "d").mkdir()
    files = {"d/a.txt": b"alpha\n", "b.bin": b"\x00\x01" * 10}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    root = str(tmp_path)
    walk = bc.walk_source(root)
    stable, changed = bc.stable_part(walk, bc.walk_source(root))
    nodes = ls_nodes(root, {"d": ("dir", 0), **{r: ("file", len(d)) for r, d in files.items()}})
    good = bc.add_tar_digests(bc.snapshot_manifest(root, nodes), tar_of(root, files), root,
                              bc.HASH_LIMIT)
    assert bc.compare_manifests(root, stable, changed, good).mismatches == []
    bad_files = {**files, "d/a.txt": b"ALPHA\n"}
    bad = bc.add_tar_digests(bc.snapshot_manifest(root, nodes), tar_of(root, bad_files), root,
                             bc.HASH_LIMIT)
    [mismatch] = bc.compare_manifests(root, stable, changed, bad).mismatches
    assert mismatch.startswith(f"{root}/d/a.txt: content differs")
