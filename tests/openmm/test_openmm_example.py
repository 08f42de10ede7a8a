"""examples/openmm/run_md.py runs (CuNi fcc box and water box, a few steps)."""

import importlib.util
from pathlib import Path

import pytest

import equipot.openmm  # noqa: F401  (the plugin must exist)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openmm" / "run_md.py"


def load_example():
    spec = importlib.util.spec_from_file_location("run_md", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, extra", [("cuni", []), ("ho", ["--friction", "0", "--timestep", "0.5"])])
def test_run_md(models, name, extra, capsys, tmp_path):
    dcd = tmp_path / "traj.dcd"
    args = [models[(name, "float32")], "--steps", "20", "--report", "10", "--repeat", "2", "--dcd", str(dcd)]
    assert load_example().main(args + extra) == 0
    out = capsys.readouterr().out
    assert "20 steps in" in out and len([l for l in out.splitlines() if not l.startswith("#")]) == 2
    assert dcd.stat().st_size > 0
