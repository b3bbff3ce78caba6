"""The training curve (``pcinpaint.figures.training.loss_curve``): loss per epoch and the median
training speed, drawn from the history a training run writes."""

import pandas as pd
import pytest

from pcinpaint.figures.common import plt, save_figure
from pcinpaint.figures.training import loss_curve

HISTORY = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.5, 0.3, 0.2], "pairs_per_s": [100.0, 300.0, 250.0]})


def test_the_curve_plots_loss_per_epoch_and_the_median_speed(tmp_path):
    fig = loss_curve(HISTORY, "sim_human", predicted="target GFP")
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    assert list(x) == [1, 2, 3] and list(y) == [0.5, 0.3, 0.2]
    assert ax.get_ylabel() == "mean squared error (target GFP)" and ax.get_title() == "sim_human"
    assert [t.get_text() for t in ax.texts] == ["median 250 cells/s"]
    save_figure(fig, tmp_path / "loss.png", tmp_path / "loss.pdf")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "loss.png").stat().st_size > 2000
    assert (tmp_path / "loss.pdf").read_bytes().startswith(b"%PDF-")


def test_an_empty_history_draws_without_a_speed():
    fig = loss_curve(HISTORY.iloc[:0], "empty")
    assert fig.axes[0].texts[0].get_text() == "median nan cells/s"
    assert fig.axes[0].lines[0].get_xydata().shape == (0, 2)
    plt.close(fig)


def test_a_history_without_its_columns_is_refused():
    plt.close("all")
    with pytest.raises(KeyError, match="pairs_per_s"):
        loss_curve(HISTORY.drop(columns="pairs_per_s"), "old history")
    assert not plt.get_fignums()  # no figure left open by the refusal
