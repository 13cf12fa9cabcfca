"""Choosing an ensemble on the val split (PublicTest) from saved probabilities, and scoring it.

Greedy forward selection with replacement (Caruana et al., ICML 2004): start from the best single
model and keep adding the member that most raises val accuracy, until none does; a member picked
k times gets weight k. Only val probabilities are looked at while choosing."""

from __future__ import annotations

import numpy as np


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def select_ensemble(val_probabilities: dict[str, np.ndarray], val_labels: np.ndarray,
                    max_members: int = 20) -> dict[str, int]:
    """Member name -> times chosen (its weight), chosen on the val split only."""
    if not val_probabilities:
        raise ValueError("No models to choose an ensemble from")
    names = sorted(val_probabilities)
    scores = {name: accuracy(val_probabilities[name], val_labels) for name in names}
    first = max(names, key=lambda name: (scores[name], name))
    chosen = {first: 1}
    total = val_probabilities[first].astype("float64").copy()
    best = scores[first]
    for _ in range(max_members - 1):
        trial = {name: accuracy(total + val_probabilities[name], val_labels) for name in names}
        candidate = max(names, key=lambda name: (trial[name], -chosen.get(name, 0), name))
        if trial[candidate] <= best:
            break
        best = trial[candidate]
        total += val_probabilities[candidate]
        chosen[candidate] = chosen.get(candidate, 0) + 1
    return chosen


def weighted_average(probabilities: dict[str, np.ndarray], weights: dict[str, int | float]) -> np.ndarray:
    """The members' probabilities averaged with ``weights``."""
    total = sum(float(w) for w in weights.values())
    return sum(float(w) * probabilities[name].astype("float64") for name, w in weights.items()) / total
