"""nn.EdgeTensorProduct equals e3nn's TensorProduct ('uvu', weights per edge) on
NequIP-style irreps: values and gradients, per edge and summed over edges, in
float64, eager and scripted; the weight reordering is a permutation."""

import pytest
import torch

o3 = pytest.importorskip("e3nn.o3")

from equipot.dtypes import default_dtype  # noqa: E402
from equipot.nn import EdgeTensorProduct  # noqa: E402
from equipot.nn.scatter import scatter_sum  # noqa: E402
from equipot.nn.tensor_product import channelwise_paths  # noqa: E402

CASES = [
    ("4x0e", 2, "4x0e+4x1o+4x2e"),  # a first layer: scalars in
    ("3x0e+3x0o+3x1e+3x1o+2x2e", 2, "5x0e+3x0o+3x1e+3x1o+2x2o+2x2e"),  # parity, l_max 2
    ("2x0e+2x1o+2x2e+2x3o", 3, "4x0e+2x1o+2x2e+2x3o"),  # parity off, l_max 3
]


@pytest.mark.parametrize("irreps_in,l_max,irreps_out", CASES)
def test_equals_e3nn_tensor_product(irreps_in, l_max, irreps_out):
    torch.manual_seed(0)
    irreps_in, irreps_sh, irreps_out = o3.Irreps(irreps_in), o3.Irreps.spherical_harmonics(l_max), o3.Irreps(irreps_out)
    mid, instructions = channelwise_paths(irreps_in, irreps_sh, irreps_out)
    with default_dtype(torch.float64):  # both sides' 3j tables exact in float64
        reference = o3.TensorProduct(irreps_in, irreps_sh, mid, instructions, shared_weights=False,
                                     internal_weights=False)
        ours = EdgeTensorProduct(irreps_in, irreps_sh, mid, instructions)
    assert ours.weight_numel == reference.weight_numel
    assert sorted(ours.weight_columns.tolist()) == list(range(ours.weight_numel))
    num_edges, num_nodes = 40, 7
    x = torch.randn(num_edges, irreps_in.dim, dtype=torch.float64, requires_grad=True)
    vectors = torch.randn(num_edges, 3, dtype=torch.float64, requires_grad=True)
    sh = o3.spherical_harmonics(irreps_sh, vectors, True, "component")
    weights = torch.randn(num_edges, reference.weight_numel, dtype=torch.float64, requires_grad=True)
    centre = torch.randint(0, num_nodes, (num_edges,))

    expected = reference(x, sh, weights)
    scale = float(expected.abs().max())
    torch.testing.assert_close(ours(x, sh, weights), expected, rtol=0, atol=1e-14 * scale)
    scripted = torch.jit.script(ours)
    torch.testing.assert_close(scripted(x, sh, weights), expected, rtol=0, atol=1e-14 * scale)

    expected_sum = scatter_sum(expected, centre, num_nodes)
    summed = ours.sum_over_edges(x, sh, ours.reorder_weights(weights), centre, num_nodes)
    torch.testing.assert_close(summed, expected_sum, rtol=0, atol=1e-14 * scale)
    probe = torch.randn_like(expected_sum)
    grads_expected = torch.autograd.grad((expected_sum * probe).sum(), [x, vectors, weights], retain_graph=True)
    grads = torch.autograd.grad((summed * probe).sum(), [x, vectors, weights])
    for got, want in zip(grads, grads_expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-13 * float(want.abs().max()))


def test_refuses_what_it_does_not_compute():
    irreps_in, irreps_sh = o3.Irreps("2x1o"), o3.Irreps("2x1o")  # two copies of a harmonic
    with pytest.raises(ValueError, match="one copy of each harmonic"):
        EdgeTensorProduct(irreps_in, irreps_sh, o3.Irreps("2x0e"), [(0, 0, 0, "uvu", True)])
    with pytest.raises(ValueError, match="one path per output block"):
        EdgeTensorProduct(o3.Irreps("2x1o"), o3.Irreps("1x1o"), o3.Irreps("2x0e"),
                          [(0, 0, 0, "uvu", True), (0, 0, 0, "uvu", True)])
