import os
import subprocess


def test_version_prints_name():
    out = subprocess.run([os.environ["FACTEUR"], "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("facteur ")
