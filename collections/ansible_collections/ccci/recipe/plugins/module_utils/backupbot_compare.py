# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a snapshot faithful to its source? Manifests of both sides and their comparison.

A snapshot that is merely non-empty proves little: restic may have skipped a file, a
volume may be legitimately empty, a dump may be cut short. So each declared path is
compared with the live source it was taken from: the same entries (by relative path
and kind), the same size for every regular file, and the same SHA-256 for every file
up to ``HASH_LIMIT`` bytes (larger files are compared by size only, and the record
says how many were).

The source is live while restic reads it, so it is walked (and hashed) twice, right
before and right after ``restic backup``, both inside the backup's pre- and
post-hooks. Only entries identical in both walks are judged ("stable"): what restic
saw of them is what the walks saw. Entries that changed, appeared or vanished in
between are counted and named as ``changed``; entries in the snapshot that neither
walk saw (created and removed while restic ran) are ``transient``. Both are
warnings, not failures: the app did that, not the backup.

The snapshot side comes from ``restic ls --json`` (entries, kinds, sizes) and
``restic dump`` (a declared file's content, or a tar of a declared directory),
hashed while streaming so nothing is written to disk. Sockets are left out of the
source walk because restic does not store them.

Everything here is pure logic over dicts, ``os.stat`` results and byte streams, so it
is unit-tested without restic.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

# Files up to this size are hashed on both sides; larger ones are compared by size.
HASH_LIMIT = 64 * 1024 * 1024
CHUNK = 1024 * 1024
# How many paths a record or a message names per list (the counts are always whole).
LISTED = 10


@dataclass(frozen=True)
class Entry:
    """One entry of a manifest: what matters for a faithful restore of it."""

    kind: str  # restic's node types: file, dir, symlink, fifo, dev, chardev
    size: int = 0  # regular files only
    mtime_ns: int = 0  # source side, regular files only: a change between walks shows
    sha256: str | None = None  # regular files up to the hash limit
    link: str | None = None  # symlink target, when known


# Entries by path relative to the declared path; "" is the declared path itself
# when it is a file.
Manifest = dict[str, Entry]


def kind_of(mode: int) -> str | None:
    """restic's node type for a ``st_mode``; None for what restic does not store."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "chardev"
    if stat.S_ISBLK(mode):
        return "dev"
    return None  # sockets: restic skips them


def stream_sha256(stream: IO[bytes]) -> str:
    """SHA-256 of everything left in ``stream``, read in chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def source_entry(path: str, st: os.stat_result, hash_limit: int) -> Entry | None:
    """The entry of one source path from its ``lstat``; None when it is not stored.

    A file that cannot be read (it vanished between listing and hashing) is None too:
    it then shows as changed or transient, not as a mismatch.
    """
    kind = kind_of(st.st_mode)
    if kind == "file":
        digest = None
        if st.st_size <= hash_limit:
            try:
                with open(path, "rb") as handle:
                    digest = stream_sha256(handle)
            except OSError:
                return None
        return Entry("file", st.st_size, st.st_mtime_ns, digest)
    if kind == "symlink":
        try:
            return Entry("symlink", link=os.readlink(path))
        except OSError:
            return None
    return Entry(kind) if kind else None


def walk_source(root: str, hash_limit: int = HASH_LIMIT) -> Manifest:
    """The manifest of a host path as it is now, symlinks not followed; {} when absent."""
    try:
        top = os.lstat(root)
    except OSError:
        return {}
    if not stat.S_ISDIR(top.st_mode):
        entry = source_entry(root, top, hash_limit)
        return {"": entry} if entry else {}
    manifest: Manifest = {}
    todo = [("", root)]
    while todo:
        rel, path = todo.pop()
        try:
            children = list(os.scandir(path))
        except OSError:
            continue  # removed while walking: its parent shows the change
        for child in children:
            child_rel = f"{rel}/{child.name}" if rel else child.name
            try:
                entry = source_entry(child.path, child.stat(follow_symlinks=False), hash_limit)
            except OSError:
                continue
            if entry is None:
                continue
            manifest[child_rel] = entry
            if entry.kind == "dir":
                todo.append((child_rel, child.path))
    return manifest


def stable_part(before: Manifest, after: Manifest) -> tuple[Manifest, list[str]]:
    """Entries identical in both walks, and the paths that changed between them."""
    stable = {k: v for k, v in before.items() if after.get(k) == v}
    changed = sorted((set(before) | set(after)) - set(stable))
    return stable, changed


def snapshot_manifest(root: str, nodes: Mapping[str, Mapping[str, Any]]) -> Manifest:
    """The manifest of declared path ``root`` in a snapshot, from ``restic ls --json`` nodes."""
    root = posixpath.normpath(root)
    node = nodes.get(root)
    if node is None:
        return {}
    if node.get("type") != "dir":
        return {"": node_entry(node)}
    prefix = root + "/"
    return {p[len(prefix) :]: node_entry(n) for p, n in nodes.items() if p.startswith(prefix)}


def node_entry(node: Mapping[str, Any]) -> Entry:
    """The entry of one ``restic ls --json`` node (no hash: ls has none)."""
    kind = str(node.get("type") or "unknown")
    size = int(node.get("size") or 0) if kind == "file" else 0
    return Entry(kind, size)


def needs_content(manifest: Manifest, hash_limit: int) -> bool:
    """Whether any file of the manifest is small enough to be hashed."""
    return any(e.kind == "file" and e.size <= hash_limit for e in manifest.values())


def add_file_digest(manifest: Manifest, stream: IO[bytes], hash_limit: int) -> Manifest:
    """The manifest of a declared file with the hash of ``stream`` (``restic dump`` of it)."""
    entry = manifest.get("")
    if entry is None or entry.kind != "file" or entry.size > hash_limit:
        return manifest
    return {**manifest, "": replace(entry, sha256=stream_sha256(stream))}


def add_tar_digests(
    manifest: Manifest, stream: IO[bytes], root: str, hash_limit: int
) -> Manifest:
    """The manifest of declared directory ``root`` with hashes and link targets from
    ``stream``, the tar ``restic dump`` writes of it (member names lack the leading /).

    The tar is read as a stream, each small file hashed as it passes. Kinds come from
    ``restic ls`` (the tar shows a fifo as an empty regular file). An unreadable tar
    raises ``tarfile.TarError``.
    """
    result = dict(manifest)
    prefix = posixpath.normpath(root).lstrip("/") + "/"
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            name = member.name.rstrip("/")
            if not name.startswith(prefix) or name[len(prefix) :] not in result:
                continue
            rel = name[len(prefix) :]
            entry = result[rel]
            if entry.kind == "file" and member.isfile() and member.size <= hash_limit:
                content = archive.extractfile(member)
                if content is not None:
                    result[rel] = replace(entry, sha256=stream_sha256(content))
            elif entry.kind == "symlink" and member.issym():
                result[rel] = replace(entry, link=member.linkname)
    return result


@dataclass
class Comparison:
    """How a declared path's snapshot compares with its source (the attempt record's part)."""

    root: str
    hash_limit: int
    entries: int = 0  # stable source entries judged
    files: int = 0  # regular files among them
    bytes: int = 0  # their total size
    hashed: int = 0  # files whose SHA-256 matched
    size_only: int = 0  # files above the hash limit, compared by size only
    changed: list[str] = field(default_factory=list)  # changed at the source meanwhile
    transient: list[str] = field(default_factory=list)  # in the snapshot only
    mismatches: list[str] = field(default_factory=list)

    def name(self, rel: str) -> str:
        """The host path of a manifest key."""
        return posixpath.join(self.root, rel) if rel else self.root

    def as_dict(self) -> dict[str, Any]:
        """The record: counts whole, path lists cut at ``LISTED`` names."""
        return {
            "entries": self.entries,
            "files": self.files,
            "bytes": self.bytes,
            "hashed": self.hashed,
            "size_only": self.size_only,
            "hash_limit": self.hash_limit,
            "changed": len(self.changed),
            "changed_paths": [self.name(r) for r in self.changed[:LISTED]],
            "transient": len(self.transient),
            "transient_paths": [self.name(r) for r in self.transient[:LISTED]],
            "mismatches": list(self.mismatches),
        }

    def warnings(self) -> list[str]:
        """What the comparison could not judge, one line per kind of reason."""
        result = []
        if self.changed:
            result.append(
                f"{self.root}: {len(self.changed)} entr(ies) changed while the backup ran "
                f"and were not compared: {listing(self.name(r) for r in self.changed)}"
            )
        if self.transient:
            result.append(
                f"{self.root}: {len(self.transient)} entr(ies) in the snapshot were at the "
                "source neither before nor after the backup (made and removed while it ran): "
                + listing(self.name(r) for r in self.transient)
            )
        return result


def listing(names: Iterable[str]) -> str:
    """Up to ``LISTED`` names, comma separated, with how many more there are."""
    items = list(names)
    text = ", ".join(items[:LISTED])
    return text + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def judge_file(result: Comparison, name: str, source: Entry, copy: Entry) -> None:
    """Compare one stable regular file with its snapshot copy, into ``result``."""
    result.files += 1
    result.bytes += source.size
    if copy.size != source.size:
        result.mismatches.append(
            f"{name}: {source.size} bytes at the source, {copy.size} in the snapshot"
        )
    elif source.size > result.hash_limit:
        result.size_only += 1
    elif copy.sha256 is None or source.sha256 is None:
        result.mismatches.append(f"{name}: its content could not be read from the snapshot")
    elif copy.sha256 != source.sha256:
        result.mismatches.append(
            f"{name}: content differs (sha256 {source.sha256[:16]} at the source, "
            f"{copy.sha256[:16]} in the snapshot)"
        )
    else:
        result.hashed += 1


def compare_manifests(
    root: str,
    stable: Manifest,
    changed: Iterable[str],
    snapshot: Manifest,
    hash_limit: int = HASH_LIMIT,
) -> Comparison:
    """Judge the snapshot of ``root`` against its stable source entries.

    Every stable entry must be in the snapshot with the same kind; regular files with
    the same size and, up to ``hash_limit``, the same SHA-256; symlinks with the same
    target when the snapshot's is known. Snapshot entries the source never showed
    are transient, not mismatches (see the module docstring).
    """
    result = Comparison(root=root, hash_limit=hash_limit, changed=sorted(changed))
    for rel in sorted(stable):
        source, copy, name = stable[rel], snapshot.get(rel), result.name(rel)
        result.entries += 1
        if copy is None:
            result.mismatches.append(f"{name}: at the source, missing from the snapshot")
        elif copy.kind != source.kind:
            result.mismatches.append(
                f"{name}: a {source.kind} at the source, a {copy.kind} in the snapshot"
            )
        elif source.kind == "file":
            judge_file(result, name, source, copy)
        elif source.kind == "symlink" and None not in (copy.link, source.link) and (
            copy.link != source.link
        ):
            result.mismatches.append(
                f"{name}: links to {source.link!r} at the source, "
                f"to {copy.link!r} in the snapshot"
            )
    seen = set(stable) | set(result.changed)
    result.transient = sorted(rel for rel in snapshot if rel not in seen)
    return result
