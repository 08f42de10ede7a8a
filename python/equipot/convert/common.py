"""What the converters of this package do alike: read the elements a converted model
is restricted to, pick a peer embedding's rows by atomic number, and copy a peer's
tensors into an equipot state dict with shape checks."""

from typing import Dict, Iterable, List, Optional, Sequence, Union

import torch
from ase.data import atomic_numbers

from ..models import AtomisticModel


def element_list(
    elements: Optional[Union[str, Sequence[str]]], source: str, example: Sequence[str] = ("Cu", "Ni")
) -> List[str]:
    """`elements` ("Cu,Ni", "Cu Ni" or a list of symbols) as a list of known chemical
    symbols without repeats. `source` (the peer package) and `example` only word the
    error raised when no elements are given, which these packages do not record."""
    if elements is None:
        raise ValueError(
            f"{source} models do not record which elements they were trained on: give them "
            f"(elements={list(example)!r}; on the command line --elements {','.join(example)})"
        )
    if isinstance(elements, str):
        elements = [e.strip() for e in elements.replace(",", " ").split()]
    elements = list(elements)
    for symbol in elements:
        if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
            raise ValueError(f"unknown element '{symbol}'")
    if not elements or len(set(elements)) != len(elements):
        raise ValueError(f"elements must be a non-empty list without repeats, got {elements}")
    return elements


def numbers_of(elements: Sequence[str]) -> torch.Tensor:
    """The atomic numbers of `elements` (int64), to index per-element peer tables."""
    return torch.tensor([atomic_numbers[e] for e in elements], dtype=torch.int64)


def embedding_rows(elements: Sequence[str], num_rows: int, source: str) -> torch.Tensor:
    """The rows (atomic numbers) of `elements` in a peer embedding of `num_rows`
    rows indexed by atomic number; an error names the first element it lacks."""
    numbers = numbers_of(elements)
    for symbol, number in zip(elements, numbers.tolist()):
        if number >= num_rows:
            raise ValueError(
                f"the {source} model embeds atomic numbers below {num_rows}; {symbol} (Z = {number}) is beyond them"
            )
    return numbers


class StateMapper:
    """An equipot model's state dict filled from a peer's state dict `source`:
    `take` copies one peer tensor (or a value computed from it) onto one equipot
    entry of the same shape and notes the peer entry as used; `unused` lists the
    peer entries nothing took, and `state` refuses those, so that no peer weight is
    silently dropped."""

    def __init__(self, model: AtomisticModel, source: Dict[str, torch.Tensor]):
        self.source = source
        self.target = {key: value.clone() for key, value in model.state_dict().items()}
        self.used = set()

    def take(self, source: str, destination: str, value: Optional[torch.Tensor] = None) -> None:
        tensor = self.source[source] if value is None else value
        expected = self.target[destination].shape
        if expected != tensor.shape:
            raise ValueError(f"{source}: shape {tuple(tensor.shape)} where {tuple(expected)} is expected")
        self.target[destination] = tensor.detach().to(self.target[destination].dtype).clone()
        self.used.add(source)

    def ignore(self, sources: Iterable[str]) -> None:
        """Count peer entries as used that have no counterpart on purpose."""
        self.used.update(sources)

    def unused(self) -> List[str]:
        return sorted(set(self.source) - self.used)

    def state(self, source: str) -> Dict[str, torch.Tensor]:
        """The filled state dict, once every entry of the `source` package's state
        dict has been taken or ignored."""
        unused = self.unused()
        if unused:
            raise ValueError(f"{source} entries with no equipot counterpart: {', '.join(unused)}")
        return self.target
