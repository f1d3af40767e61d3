"""Output sets: a run's files appear together or not at all, and only where they belong."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import passages._io
from passages._errors import InputError
from passages._io import MANIFEST, OutputError, OutputSet, check_output_folder, output_set


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the manifest, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def beside(folder: Path) -> list[str]:
    """Names next to ``folder`` in its parent, but the folder itself."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def test_a_set_appears_whole_with_a_manifest(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with output_set(target) as out:
        first = out.write("plan.html", b"<html>")
        second = out.write("sub/plan.gpx", b"gpx")
        assert not target.exists()  # nothing is visible before the commit
    assert first == target / "plan.html" and second == target / "sub" / "plan.gpx"
    assert contents(target) == {"plan.html": b"<html>", "sub/plan.gpx": b"gpx"}
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["complete"] and manifest["files"] == ["plan.html", "sub/plan.gpx"]
    assert beside(target) == []  # no staging folder nor lock left


def test_a_failed_run_leaves_the_previous_set_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with output_set(target) as out:
        out.write("plan.html", b"old map")
        out.write("plan-summary.json", b"old summary")
    with pytest.raises(RuntimeError), output_set(target) as out:
        out.write("plan.html", b"new map")
        raise RuntimeError("the plan failed half-way")
    assert contents(target) == {"plan.html": b"old map", "plan-summary.json": b"old summary"}
    assert beside(target) == []


def test_files_the_run_does_not_own_are_kept_and_owned_ones_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with output_set(target) as out:
        out.write("plan.html", b"plan 1")
        out.write("plan.gpkg", b"export 1")
        out.write("officer3.gpx", b"loop of a third officer")
        out.write("officers/posts-2/officers.html", b"pack 1")
    with output_set(target, owns=("officer*.gpx",)) as out:
        out.write("plan.html", b"plan 2")
        out.write("officer1.gpx", b"loop 1")
    assert contents(target) == {"plan.html": b"plan 2", "plan.gpkg": b"export 1", "officer1.gpx": b"loop 1",
                                "officers/posts-2/officers.html": b"pack 1"}


def test_a_sub_set_writes_inside_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "officers"
    with output_set(target, owns=("posts-2",)) as out:
        pack = out.subset("posts-2")
        assert isinstance(pack, OutputSet)
        assert pack.write("briefing.pdf", b"%PDF") == target / "posts-2" / "briefing.pdf"
    assert contents(target) == {"posts-2/briefing.pdf": b"%PDF"}


@pytest.mark.parametrize("name", ["../escape.html", "/etc/passwd", "a/../../b", "", "."])
def test_a_name_outside_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="relative path"), output_set(tmp_path / "out") as out:
        out.write(name, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_full_disk_is_one_clear_error_and_the_old_set_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    with output_set(target) as out:
        out.write("plan.html", b"old")
    real_open = open

    def full_disk_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "w" in mode and ".staging-" in str(file):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(OutputError, match=r"plan\.html: No space left on device"), output_set(target) as out:
        out.write("plan.html", b"new")
    monkeypatch.undo()
    assert contents(target) == {"plan.html": b"old"}
    assert beside(target) == []


def test_without_an_atomic_exchange_two_renames_still_give_whole_sets(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passages._io, "_exchange", lambda first, second: False)
    target = tmp_path / "out"
    for version in (b"1", b"2"):
        with output_set(target) as out:
            out.write("plan.html", version)
    assert contents(target) == {"plan.html": b"2"}
    assert beside(target) == []


def test_a_swap_cut_between_its_renames_is_undone_by_the_next_run(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with output_set(target) as out:
        out.write("plan.html", b"old")
    # what a run killed between "target -> .old" and "staging -> target" leaves behind
    dead_old = tmp_path / ".out.old-abc123"
    os.rename(target, dead_old)
    (tmp_path / ".out.staging-abc123").mkdir()
    (tmp_path / ".out.staging-abc123" / "plan.html").write_bytes(b"half")
    with pytest.raises(RuntimeError), output_set(target):
        raise RuntimeError("this run fails too")
    assert contents(target) == {"plan.html": b"old"}
    assert beside(target) == []


def test_staging_folders_of_dead_runs_are_removed_but_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "out"
    dead = tmp_path / ".out.staging-dead"
    dead.mkdir()
    (dead / "plan.html").write_bytes(b"half")
    live = tmp_path / ".out.staging-live"
    live.mkdir()
    held = passages._io._lock(live, blocking=True)  # a run still at work holds its staging folder
    try:
        with output_set(target) as out:
            out.write("plan.html", b"new")
        assert not dead.exists() and live.exists()
    finally:
        passages._io._unlock(held)
    assert contents(target) == {"plan.html": b"new"}


def test_stale_temporary_files_in_the_folder_are_dropped(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / ".plan.html.x1y2.tmp").write_bytes(b"from a killed writer")
    (target / "plan.html").write_bytes(b"old")
    with output_set(target) as out:
        out.write("plan-summary.json", b"{}")
    assert contents(target) == {"plan.html": b"old", "plan-summary.json": b"{}"}


@pytest.mark.parametrize(("make", "words"), [
    (lambda root: (root / "afile").write_text("x") and root / "afile", "is a file"),
    (lambda root: (root / "afile").write_text("x") and root / "afile" / "sub", "is a file"),
    (lambda root: root / ("x" * 240), "longer than"),
    (lambda root: Path("."), "current folder"),
    (lambda root: Path(".."), "current folder"),
    (lambda root: Path("/"), "current folder"),
    (lambda root: Path.home(), "home folder"),
])
def test_unusable_output_folders_are_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             make: object, words: str) -> None:
    monkeypatch.chdir(tmp_path)
    target = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError, match=words) as caught:
        check_output_folder(target)
    assert "--out" in str(caught.value)


def test_somebody_elses_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "letter.docx").write_bytes(b"mine")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"files passages did not write.*letter\.docx"):
        check_output_folder(folder)
    with pytest.raises(InputError), output_set(folder):
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["letter.docx", "notes.txt"]


def test_an_output_folder_of_an_older_version_without_manifest_is_taken(tmp_path: Path) -> None:
    folder = tmp_path / "south-la"
    folder.mkdir()
    (folder / "plan.html").write_bytes(b"old map")
    (folder / "compare").mkdir()
    (folder / "compare" / "x.csv").write_bytes(b"a,b")
    with output_set(folder) as out:
        out.write("plan-summary.json", b"{}")
    assert contents(folder) == {"plan.html": b"old map", "compare/x.csv": b"a,b", "plan-summary.json": b"{}"}


runs = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(["a.html", "b.json", "c/d.gpx", "e.csv"]), st.binary(max_size=8),
                        min_size=1),
        st.booleans(),  # whether the run fails before it ends
    ),
    min_size=1, max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs)
def test_the_folder_always_holds_the_last_complete_set(tmp_path_factory: pytest.TempPathFactory,
                                                       runs: list[tuple[dict[str, bytes], bool]]) -> None:
    target = tmp_path_factory.mktemp("prop") / "out"
    expected: dict[str, bytes] = {}
    for files, fails in runs:
        try:
            with output_set(target, owns=("*",)) as out:
                for name, data in files.items():
                    out.write(name, data)
                if fails:
                    raise RuntimeError("cut short")
        except RuntimeError:
            pass
        else:
            expected = dict(files)
        assert (contents(target) if target.exists() else {}) == expected
        assert beside(target) == []
