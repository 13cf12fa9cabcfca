import numpy as np
import pytest

from deepfer_kedro.core.ensemble import accuracy, select_ensemble, weighted_average


def one_hot(predicted, n=7):
    return np.eye(n)[predicted] * 0.6 + 0.4 / n


def test_greedy_selection_on_val_adds_a_complementary_member_and_stops():
    labels = np.array([0, 1, 2, 3, 4, 5])
    models = {
        "a": one_hot([0, 1, 2, 3, 6, 6]),  # 4/6: the best alone
        "b": one_hot([6, 6, 2, 3, 4, 5]),  # 4/6, right where a is wrong
        "c": one_hot([6, 6, 6, 6, 6, 6]),  # 0/6
    }
    models["b"][:2] = one_hot([0, 1])[:2] * 0.2 + models["b"][:2] * 0.8  # b leans the right way on a's cases
    chosen = select_ensemble(models, labels)
    assert "c" not in chosen and set(chosen) == {"a", "b"}
    assert accuracy(weighted_average(models, chosen), labels) == 1.0


def test_a_single_model_is_its_own_ensemble():
    labels = np.array([0, 1])
    assert select_ensemble({"only": one_hot([0, 0])}, labels) == {"only": 1}
    with pytest.raises(ValueError, match="No models"):
        select_ensemble({}, labels)
