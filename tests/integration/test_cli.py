"""The facteur binary's command line: version, help, configuration errors,
target resolution and the default configuration path.  Uses the binary named
by the FACTEUR environment variable; no network."""
import os
import subprocess

import pytest

FACTEUR = os.environ.get("FACTEUR")

pytestmark = pytest.mark.skipif(not FACTEUR, reason="FACTEUR is not set")

GOOD = """\
MaildirStore far
Path {root}/far/

MaildirStore near
Path {root}/near/

Channel mail
Far :far:
Near :near:

Group both mail
"""


def run(args, home, env_extra=None, cwd=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    if env_extra:
        env.update(env_extra)
    return subprocess.run([FACTEUR] + args, capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=30)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_version(tmp_path):
    out = run(["--version"], tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("facteur ")
    assert run(["-v"], tmp_path).stdout == out.stdout


def test_help_lists_options(tmp_path):
    out = run(["--help"], tmp_path)
    assert out.returncode == 0
    for opt in ("--config", "--all", "--list", "--create", "--expunge", "--pull",
                "--push", "--dry-run", "--json", "--wait", "--version"):
        assert opt in out.stdout, opt


def test_typo_reports_file_and_line(tmp_path):
    text = GOOD.format(root=tmp_path) + "\nChannel x\nFra :far:\n"
    cfg = write(tmp_path / "typo.rc", text)
    line = text.splitlines().index("Fra :far:") + 1
    out = run(["-c", str(cfg), "mail"], tmp_path)
    assert out.returncode == 1
    assert f"{cfg}:{line}:" in out.stderr
    assert "Fra" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unknown_channel(tmp_path):
    cfg = write(tmp_path / "good.rc", GOOD.format(root=tmp_path))
    out = run(["-c", str(cfg), "nosuch"], tmp_path)
    assert out.returncode == 1
    assert "no channel or group named 'nosuch'" in out.stderr


def test_unknown_channel_in_box_spec(tmp_path):
    cfg = write(tmp_path / "good.rc", GOOD.format(root=tmp_path))
    out = run(["-c", str(cfg), "nosuch:INBOX,Sent"], tmp_path)
    assert out.returncode == 1
    assert "no channel or group named 'nosuch'" in out.stderr


def test_missing_config_file(tmp_path):
    missing = tmp_path / "absent.rc"
    out = run(["-c", str(missing), "mail"], tmp_path)
    assert out.returncode == 1
    assert str(missing) in out.stderr
    assert "cannot open configuration file" in out.stderr


def test_no_config_anywhere(tmp_path):
    out = run(["mail"], tmp_path, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert out.returncode == 1
    assert "no configuration file found" in out.stderr
    assert str(tmp_path / "xdg" / "facteur" / "config") in out.stderr
    assert str(tmp_path / ".mbsyncrc") in out.stderr


def test_default_path_xdg_then_mbsyncrc(tmp_path):
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    home.mkdir()
    # Only ~/.mbsyncrc: it is read (a typo there shows its name).
    write(home / ".mbsyncrc", "Bogus yes\n")
    out = run(["mail"], home, {"XDG_CONFIG_HOME": str(xdg)})
    assert out.returncode == 1
    assert f"{home}/.mbsyncrc:1:" in out.stderr
    # The XDG file takes precedence once it exists.
    write(xdg / "facteur" / "config", "\n\nAlsoBogus 1\n")
    out = run(["mail"], home, {"XDG_CONFIG_HOME": str(xdg)})
    assert out.returncode == 1
    assert f"{xdg}/facteur/config:3:" in out.stderr
    # Without XDG_CONFIG_HOME, ~/.config is the default.
    write(home / ".config" / "facteur" / "config", "Third 1\n")
    out = run(["mail"], home)
    assert f"{home}/.config/facteur/config:1:" in out.stderr


def test_bad_option(tmp_path):
    out = run(["--no-such-option"], tmp_path)
    assert out.returncode == 1
    assert "--no-such-option" in out.stderr
    out = run(["-Lq", "mail"], tmp_path)
    assert out.returncode == 1
    assert "-L" in out.stderr


def test_no_target(tmp_path):
    cfg = write(tmp_path / "good.rc", GOOD.format(root=tmp_path))
    out = run(["-c", str(cfg)], tmp_path)
    assert out.returncode == 1
    assert "no channel specified" in out.stderr


def test_channel_named_like_subcommand_wins(tmp_path):
    text = GOOD.format(root=tmp_path).replace("mail", "status")
    cfg = write(tmp_path / "st.rc", text)
    out = run(["-c", str(cfg), "status"], tmp_path)
    assert "not available yet" not in out.stderr
    assert "no channel or group" not in out.stderr


def test_verbose_names_config_and_unimplemented_warning(tmp_path):
    text = GOOD.format(root=tmp_path).replace("Path " + str(tmp_path) + "/near/",
                                              "Path " + str(tmp_path) + "/near/\nAltMap no")
    cfg = write(tmp_path / "w.rc", text)
    out = run(["-V", "-c", str(cfg), "nosuch"], tmp_path)
    assert out.returncode == 1
    assert f"reading configuration file {cfg}" in out.stderr
    warnings = [l for l in out.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and f"AltMap ({cfg}:6)" in warnings[0]
    # -q -q silences warnings; the error remains, on one line.
    out = run(["-qq", "-c", str(cfg), "nosuch"], tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["facteur: error: no channel or group named 'nosuch'"]
