"""Fixtures of the OpenMM plugin tests: small random-weight SchNet models exported
as float64 and float32.

The plugin must be present whenever openmm is installed: every test module imports
equipot.openmm unguarded, so a plugin that did not build makes each of them fail
(collection error) instead of being skipped, and so does an environment without the
openmm package (scripts/setup_env.sh installs it).
"""

import importlib.util

import pytest

if importlib.util.find_spec("openmm") is None:
    raise ImportError("the openmm package is not installed: the OpenMM plugin tests cannot run "
                      "(run scripts/setup_env.sh, or pip install openmm==8.6.1 and rebuild equipot)")
else:
    from equipot.export import export_model

    import torch

    from omm_helpers import make_schnet

    @pytest.fixture(autouse=True)
    def one_torch_thread():
        """One intra-op thread in these tests: on a small, shared CI machine libtorch's
        OpenMP barriers stall whenever a worker thread is preempted (MD steps then
        take up to 100x longer). Restored afterwards for the other test directories."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)


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


