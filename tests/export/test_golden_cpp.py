"""Runs the C++ core's own test program against the golden model files."""

import os
import subprocess

from tests.conftest import REPO

import equipot._core


def test_cpp_core_against_golden_files():
    program = os.path.join(os.path.dirname(equipot._core.__file__), "equipot_core_tests")
    assert os.path.isfile(program), f"C++ test program not built/installed: {program}"
    result = subprocess.run([program, os.path.join(REPO, "export", "golden")], capture_output=True, text=True, timeout=120)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout
