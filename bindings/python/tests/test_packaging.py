"""The documentation's example and the example host run, and the package installs offline."""
import os
import re
import subprocess
import sys

import pytest

from conftest import MODEL, SOURCE_ROOT

PACKAGE_DIR = os.path.join(SOURCE_ROOT, "bindings", "python")


def run_python(args, env_extra, cwd=SOURCE_ROOT, timeout=120):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **env_extra)
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_docs_python_example_runs(tmp_path):
    with open(os.path.join(SOURCE_ROOT, "docs", "python.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    assert blocks, "docs/python.md has no python block"
    for i, code in enumerate(blocks):
        script = tmp_path / ("block%d.py" % i)
        script.write_text(code)
        done = run_python([str(script)], {"PYTHONPATH": PACKAGE_DIR, "PYAGENT_MODEL": MODEL})
        assert done.returncode == 0, "docs/python.md block %d failed:\n%s%s" % (
            i, done.stdout, done.stderr)
    assert "finished by STOP" in done.stdout
    assert "status 7: top_p" in done.stdout


@pytest.mark.parametrize("mode", [[], ["--fork"]])
def test_multi_agent_example_runs(mode):
    done = run_python([os.path.join(SOURCE_ROOT, "examples", "python", "multi_agent.py"),
                       "-m", MODEL, "-n", "3", "--tokens", "8"] + mode,
                      {"PYTHONPATH": PACKAGE_DIR})
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(re.findall(r"^\[agent \d\] ", done.stdout, flags=re.M)) == 3, done.stdout
    assert "prompt tokens computed" in done.stdout


def test_pip_installs_the_package_offline(tmp_path):
    if run_python(["-m", "pip", "--version"], {}).returncode != 0:
        pytest.fail("pip is missing for %s (Debian: python3-pip; sh .ci/deps installs it)"
                    % sys.executable)
    target = tmp_path / "site"
    done = run_python(["-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
                       "--disable-pip-version-check", "--target", str(target), PACKAGE_DIR],
                      {}, cwd=str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    check = run_python(["-c", "import pyagent; print(pyagent.__file__); print(pyagent.version())"],
                       {"PYTHONPATH": str(target)}, cwd=str(tmp_path))
    assert check.returncode == 0, check.stdout + check.stderr
    installed_file, version = check.stdout.split()
    assert installed_file.startswith(str(target))
    assert version == __import__("pyagent").__version__
