"""runtime/ospath.py answers as os.path does (it exists so that create need not import os)."""
import os
import os.path
import stat

import pytest
from hypothesis import given, settings, strategies as st

from runtime import ospath

# paths built of the parts that make the corner cases: '.', '..', empty parts (repeated
# or leading/trailing '/'), names
part = st.sampled_from(["", ".", "..", "a", "b", "link", "loop", "up", "file", "gone"])
path = st.builds(lambda lead, parts: lead + "/".join(parts), st.sampled_from(["", "/", "//", "///"]),
                 st.lists(part, max_size=7))


@given(path)
def test_lexical_functions_answer_as_os_path(p):
    assert ospath.normpath(p) == os.path.normpath(p)
    assert ospath.dirname(p) == os.path.dirname(p)
    assert ospath.basename(p) == os.path.basename(p)
    assert ospath.isabs(p) == os.path.isabs(p)
    assert ospath.abspath(p) == os.path.abspath(p)


@given(path, st.lists(path, max_size=3))
def test_join_answers_as_os_path(a, rest):
    assert ospath.join(a, *rest) == os.path.join(a, *rest)


@given(path, path)
def test_relpath_answers_as_os_path(p, start):
    if not p:
        with pytest.raises(ValueError):
            ospath.relpath(p, start)
        return
    assert ospath.relpath(p, start) == os.path.relpath(p, start or ".")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A directory with a/, a/b/, a file, symlinks up, across, dangling and in a loop."""
    top = tmp_path_factory.mktemp("paths")
    (top / "a" / "b").mkdir(parents=True)
    (top / "file").write_text("x")
    os.symlink("a/b", top / "link")
    os.symlink("..", top / "a" / "up")
    os.symlink("gone", top / "dangling")
    os.symlink("loop", top / "loop")
    os.symlink(str(top / "a"), top / "a" / "b" / "abs")
    return str(top)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["", ".", "..", "a", "b", "link", "up", "file", "gone", "dangling", "loop",
                                 "abs"]), max_size=6), st.booleans())
def test_filesystem_functions_answer_as_os_path(tree, parts, absolute):
    p = tree + "/" + "/".join(parts)
    for name in ("exists", "lexists", "isdir", "islink"):
        assert getattr(ospath, name)(p) == getattr(os.path, name)(p), name
    if "loop" not in parts:  # os.path.realpath keeps a loop's rest its own way; ours is documented
        assert ospath.realpath(p) == os.path.realpath(p)
        assert ospath._walk_real(p) == os.path.realpath(p)


def test_realpath_of_a_relative_path_and_a_loop(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert ospath.realpath("link/../file") == os.path.realpath("link/../file") == f"{tree}/a/file"
    assert ospath.realpath("loop/x").startswith(f"{tree}/loop")


def test_makedirs_makes_parents_and_refuses_a_file(tmp_path):
    d = tmp_path / "x" / "y" / "z"
    old = os.umask(0o022)
    try:
        ospath.makedirs(str(d), 0o700)
        ospath.makedirs(str(d), 0o700)  # there already: fine
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o755  # parents: 0777 less the umask
    (tmp_path / "f").write_text("")
    with pytest.raises(FileExistsError):
        ospath.makedirs(str(tmp_path / "f"))
    with pytest.raises(NotADirectoryError):
        ospath.makedirs(str(tmp_path / "f" / "g"))


def test_walk_dirs_yields_what_os_walk_yields(tree):
    for topdown in (True, False):
        assert list(ospath.walk_dirs(tree, topdown)) == [d for d, _, _ in os.walk(tree, topdown=topdown)]
    assert list(ospath.walk_dirs(tree + "/gone")) == []
