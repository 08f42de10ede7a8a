"""TensorNet's `messages` in chunks of pairs gives the sums (and gradients) of one
chunk: the chunking only bounds the size of temporaries."""

import torch

from equipot.models.tensornet import messages


def test_chunked_messages_equal_one_chunk():
    torch.manual_seed(0)
    num_atoms, num_pairs, parts_k, channels = 9, 40, 5, 6
    parts = torch.randn(num_atoms, parts_k, channels, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(num_pairs, channels, dtype=torch.float64, requires_grad=True)
    first = torch.randint(0, num_atoms, (num_pairs,))
    second = torch.randint(0, num_atoms, (num_pairs,))
    back = torch.where(torch.rand(num_pairs) < 0.2, torch.full_like(second, num_atoms), second)
    whole = messages(weights, parts, first, second, back)
    row_bytes = parts_k * channels * parts.element_size()
    chunked = messages(weights, parts, first, second, back, chunk_bytes=7 * row_bytes)  # 6 chunks, the last short
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-14)
    probe = torch.randn_like(whole)
    expected = torch.autograd.grad((whole * probe).sum(), [parts, weights])
    got = torch.autograd.grad((chunked * probe).sum(), [parts, weights])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-13)
