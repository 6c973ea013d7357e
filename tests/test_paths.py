"""The user folders: on Linux modelwise works out what platformdirs would answer without importing it
(~5 ms of every cold command), and gives platformdirs' own answer in every case it knows; elsewhere, and
where HOME is unset or not absolute, platformdirs answers."""

from __future__ import annotations

import os
import subprocess
import sys

import platformdirs
import pytest

from modelwise import paths

FOLDERS = [
    (paths.user_config_dir, platformdirs.user_config_dir, "XDG_CONFIG_HOME"),
    (paths.user_data_dir, platformdirs.user_data_dir, "XDG_DATA_HOME"),
    (paths.user_cache_dir, platformdirs.user_cache_dir, "XDG_CACHE_HOME"),
]


@pytest.mark.skipif(sys.platform != "linux", reason="worked out without platformdirs on Linux")
@pytest.mark.parametrize("home", ["/home/ada", "/home/ada/", "/", "", "relative/home", None])
@pytest.mark.parametrize("xdg", [None, "", "relative/xdg", "/srv/xdg", "/srv/xdg/", "~/xdg"])
def test_the_user_folders_are_platformdirs_own(monkeypatch, home, xdg):
    monkeypatch.delenv("MODELWISE_CACHE", raising=False)
    for key in ("ANDROID_DATA", "ANDROID_ROOT"):
        monkeypatch.delenv(key, raising=False)
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", home)
    fast = 0
    for ours, theirs, variable in FOLDERS:
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
        try:
            want = theirs("modelwise", appauthor=False)
        except RuntimeError:  # platformdirs finds no home: nor does modelwise
            with pytest.raises(RuntimeError):
                ours()
            continue
        assert str(ours()) == want, (variable, xdg, home)
        fast += paths._xdg(variable, "x") is not None
    # the cases it works out itself: an absolute XDG variable, or an absolute HOME
    assert fast == (3 if (xdg or "").startswith("/") or (home or "").startswith("/") else 0)


def test_a_cold_route_does_not_import_platformdirs(cli_env, tmp_path):
    """A `route` with its folders from the XDG variables (or HOME) loads no platformdirs, which would
    load tempfile, shutil and the compression modules with it."""
    code = (
        "import sys, io, contextlib, modelwise.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = c.main(['route', 'documentation', 'write the docs', '--json'])\n"
        "print(rc, 'platformdirs' in sys.modules)"
    )
    env = {**os.environ, **cli_env, "HOME": str(tmp_path)}
    for key in ("MODELWISE_CACHE", "XDG_CACHE_HOME", "MODELWISE_CONFIG"):
        env.pop(key, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    expected = "True" if sys.platform != "linux" else "False"
    assert out.stdout.split() == ["0", expected], out.stderr
    assert (tmp_path / ".cache" / "modelwise").is_dir()  # the cache where platformdirs puts it
