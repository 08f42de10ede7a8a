"""Fixtures of the OpenMM plugin tests: small random-weight SchNet models exported
as float64 and float32.

The plugin must be present whenever openmm is installed: `import equipot.openmm`
below is not guarded, so a plugin that did not build makes every test here fail
(collection error) instead of being skipped. Only an environment without the openmm
package at all leaves this directory uncollected.
"""

import importlib.util

import pytest

if importlib.util.find_spec("openmm") is None:
    collect_ignore_glob = ["test_*.py"]  # no openmm: the plugin is not expected to exist
else:
    import equipot.openmm  # noqa: F401  (must import: the plugin is part of the build)
    from equipot.export import export_model

    from omm_helpers import make_schnet


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{(name, dtype): path} for name in ho (H, O) and cuni (Cu, Ni)."""
    directory = tmp_path_factory.mktemp("models")
    paths = {}
    for name, elements, seed in (("ho", ["H", "O"], 1), ("cuni", ["Cu", "Ni"], 2)):
        model = make_schnet(elements, seed)
        for dtype in ("float64", "float32"):
            path = directory / f"{name}_{dtype}.pt"
            export_model(model, str(path), dtype)
            paths[(name, dtype)] = str(path)
    return paths


