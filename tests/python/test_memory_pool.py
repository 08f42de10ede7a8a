"""The core's memory pool (cpp/include/equipot/memory_pool.h): an evaluation's large
buffers are reused by the next, the cache never holds more than the last evaluation's
working set, torch used outside an evaluation is untouched, and results do not depend
on it."""

import json
import os
import subprocess
import sys

import numpy as np
import torch

from equipot import _core
from equipot.export import export_model
from tests.conftest import REPO, cuni_alloy, make_schnet


def evaluate(model, atoms):
    return model.evaluate_structure(atoms.positions, atoms.cell[:], atoms.pbc, model.species(atoms.get_chemical_symbols()))


def test_buffers_are_reused_and_the_cache_is_bounded(tmp_path):
    path = str(tmp_path / "model.pt")
    export_model(make_schnet(), path)
    model = _core.Model(path)
    assert _core.memory_pool_stats()["enabled"]
    small, large = cuni_alloy((2, 2, 2)), cuni_alloy((4, 4, 4))

    evaluate(model, large)
    first = _core.memory_pool_stats()
    for _ in range(3):
        evaluate(model, large)
    again = _core.memory_pool_stats()
    assert again["allocated"] == first["allocated"], "the same structure again needed new memory"
    assert again["reused"] > first["reused"]
    large_set = again["last_working_set_bytes"]
    assert 0 < again["last_peak_bytes"] <= large_set
    assert 0 < again["cached_bytes"] <= large_set

    evaluate(model, small)  # the cache shrinks to what the small structure needs
    shrunk = _core.memory_pool_stats()
    assert shrunk["last_working_set_bytes"] < large_set
    assert shrunk["cached_bytes"] <= shrunk["last_working_set_bytes"]

    outside = _core.memory_pool_stats()
    blocks = [torch.ones(1 << 20) for _ in range(4)]  # 4 MB each, torch used outside an evaluation
    del blocks
    assert _core.memory_pool_stats() == outside


def test_results_do_not_depend_on_the_pool(tmp_path):
    """Bitwise the same forces with the pool and without it (another process)."""
    path = str(tmp_path / "model.pt")
    export_model(make_schnet(), path)
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[2]); from equipot import _core; "
        "from tests.conftest import cuni_alloy; m = _core.Model(sys.argv[1]); a = cuni_alloy((3, 3, 3)); "
        "r = m.evaluate_structure(a.positions, a.cell[:], a.pbc, m.species(a.get_chemical_symbols())); "
        "print(json.dumps([_core.memory_pool_stats()['enabled'], r['energy'], r['forces'].tolist()]))")
    outputs = []
    for setting in ("1", "0"):
        result = subprocess.run([sys.executable, "-c", script, path, REPO], capture_output=True, text=True,
                                env={**os.environ, "EQUIPOT_MEMORY_POOL": setting}, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    (pooled, e1, f1), (unpooled, e2, f2) = outputs
    assert pooled and not unpooled
    assert e1 == e2 and np.array_equal(np.array(f1), np.array(f2))
