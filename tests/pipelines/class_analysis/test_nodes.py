import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from kedro_datasets.matplotlib import MatplotlibDataset

from deepfer_kedro.core.data import build_image_index
from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.class_analysis.nodes import (
    compute_class_weights,
    count_classes,
    plot_class_counts,
)

README_TABLE = {  # ../shared/datasets/README.md
    "train": [3995, 436, 4097, 7215, 4965, 4830, 3171, 28709],
    "val": [467, 56, 496, 895, 607, 653, 415, 3589],
    "test": [491, 55, 528, 879, 626, 594, 416, 3589],
}


def _index(train_counts):
    emotions = [e for e, n in zip(EMOTIONS, train_counts, strict=True) for _ in range(n)]
    return pd.DataFrame({"emotion": emotions + ["sad"], "split": ["train"] * len(emotions) + ["test"]})


def test_class_weights_follow_the_formula():
    counts = [10, 2, 10, 20, 10, 10, 8]
    weights = compute_class_weights(_index(counts))
    n = sum(counts)
    for emotion, count in zip(EMOTIONS, counts, strict=True):
        assert weights[emotion] == pytest.approx(n / (7 * count), abs=1e-6)


def test_class_weights_need_every_emotion_in_train():
    with pytest.raises(ValueError, match="disgust"):
        compute_class_weights(_index([10, 0, 10, 20, 10, 10, 8]))


def test_counts_table_has_splits_and_totals():
    table = count_classes(_index([1, 2, 3, 4, 5, 6, 7])).set_index("emotion")
    assert table.loc["sad", "train"] == 6 and table.loc["sad", "test"] == 1
    assert table.loc["total", "total"] == 29
    assert list(table.columns) == ["train", "val", "test", "total"]


def test_bar_chart_has_a_bar_per_emotion_and_split(tmp_path):
    fig = plot_class_counts(count_classes(_index([1, 2, 3, 4, 5, 6, 7])))
    bars = fig.axes[0].patches
    assert len(bars) == 7 * 3
    assert sorted(int(b.get_height()) for b in bars)[-1] == 7
    MatplotlibDataset(filepath=str(tmp_path / "c.png")).save(fig)
    assert (tmp_path / "c.png").stat().st_size > 10_000
    plt.close(fig)


@pytest.mark.real_data
def test_real_counts_and_weights(real_faces):
    index = build_image_index(real_faces, 0.1, 0)
    table = count_classes(index).set_index("emotion")
    for split, expected in README_TABLE.items():
        assert table[split].tolist() == expected
    weights = compute_class_weights(index)
    assert weights["disgust"] == pytest.approx(28709 / (7 * 436), abs=1e-4)  # 9.4066
    assert np.isclose(weights["happy"], 28709 / (7 * 7215))
