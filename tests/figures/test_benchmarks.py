"""The benchmark figures (``pcinpaint.figures.benchmarks``): Fig 2A/2B, Fig 3 and Supp Figs 2/3 draw
every family, name the sets not run and keep panels without a map."""

import numpy as np
import pandas as pd

from pcinpaint.features.manifest import VGG16_LAYERS
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import plt, save_figure


def test_fig2a_draws_ten_families_by_eighteen_classes_with_the_not_run_note():
    classes = [f"class{i:02d}" for i in range(18)]
    sets = [f"set{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    per_class = pd.DataFrame(
        [{"feature_set": s, "label": c, "k": 11, "accuracy": rng.uniform()} for s in sets for c in classes]
    )
    best = pd.DataFrame({"feature_set": sets, "score": np.linspace(0.3, 0.9, len(sets))})
    not_run = {"vgg16_rgb": "no weights", "vgg16_protein": "no weights", "designed": "not part of this workflow"}
    fig = figures.fig2a(per_class, best, not_run, 11, "title")
    ax = fig.axes[0]
    assert len(ax.patches) == 180 and len(ax.get_legend().get_texts()) == 10
    assert ax.get_xlabel().splitlines() == [
        "not run:",
        "vgg16_rgb, vgg16_protein (no weights)",
        "designed (not part of this workflow)",
    ]
    assert fig.get_figwidth() > 15
    plt.close(fig)


def test_suppfig3_shares_one_legend_and_shows_panels_not_run():
    rng = np.random.default_rng(0)
    labels = pd.Series(["a", "b", None, "c"] * 10)
    panels = [("pci_conv4", rng.normal(size=(40, 2))), ("vgg16: not run: no weights", None)]
    panels.append(("cellprofiler", rng.normal(size=(40, 2))))
    fig = figures.suppfig3(panels, labels, "title")
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["pci_conv4", "cellprofiler"]
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["unlabelled", "a", "b", "c"]
    assert [t.get_text() for t in fig.axes[1].texts] == ["vgg16: not run: no weights"]
    plt.close(fig)
    empty = figures.suppfig3([], labels, "title")  # no configured family in this dataset: says so
    assert "none of benchmarks.umap_cells.families" in empty.axes[0].texts[0].get_text()
    plt.close(empty)


def test_fig3_gives_a_label_one_colour_across_screens_annotated_differently():
    """Each screen has its own annotation (Huh 2003, Weill 2018): a label shared by two panels
    has one colour in both, and one legend to the right lists every label."""
    rng = np.random.default_rng(0)
    first = pd.Series(["cytoplasm", "nucleus", None] * 5)
    second = pd.Series(["nucleus", "punctate", "vacuole"] * 5)
    panels = [("WT2", rng.normal(size=(15, 2)), first), ("NOP1pr: not run: 2 proteins", None, first)]
    panels.append(("NOP1pr", rng.normal(size=(15, 2)), second))
    fig = figures.fig3(panels)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["WT2", "NOP1pr"] and len(fig.legends) == 1
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["unlabelled", "cytoplasm", "nucleus", "punctate", "vacuole"]

    def colours(ax):
        return {c.get_label(): tuple(c.get_facecolor()[0]) for c in ax.collections}

    assert colours(drawn[0])["nucleus"] == colours(drawn[1])["nucleus"]
    assert colours(drawn[0])["cytoplasm"] not in {v for k, v in colours(drawn[1]).items() if k != "cytoplasm"}
    plt.close(fig)


def test_fig3_colours_the_most_common_of_many_labels_and_keeps_two_line_titles():
    """Huh et al. 2003's combined labels are over 100 classes: the 19 most common over every
    panel are coloured (no colour twice), the rest grey as one 'other labels' entry."""
    rng = np.random.default_rng(1)
    labels = pd.Series([f"class{i:02d}" for i in range(30) for _ in range(30 - i)])  # class00 the most common
    fig = figures.fig3([("WT2\n465 proteins, pci_conv4", rng.normal(size=(len(labels), 2)), labels)])
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == [f"class{i:02d}" for i in range(19)] + [figures.OTHER]
    faces = [tuple(c.get_facecolor()[0]) for c in fig.axes[0].collections if c.get_label() != figures.OTHER]
    assert len(set(faces)) == 19
    assert fig.axes[0].get_title() == "WT2\n465 proteins, pci_conv4"
    plt.close(fig)


def test_the_not_run_note_names_sets_sharing_a_reason_on_one_line():
    note = figures.not_run_note({"vgg16_rgb": "no weights", "designed": "", "vgg16_protein": "no weights"})
    assert note.splitlines() == ["not run:", "vgg16_rgb, vgg16_protein (no weights)", "designed"]
    assert figures.not_run_note(["a", "b"]) == "not run:\na, b"
    wrapped = figures.not_run_note({f"set{i:02d}": "why" for i in range(30)}, width=40).splitlines()
    assert len(wrapped) > 2 and all(len(line) <= 40 for line in wrapped)
    assert all(line.startswith("    ") for line in wrapped[2:])


def test_fig2b_draws_each_term_per_set_with_overall_last(tmp_path):
    scores = pd.DataFrame(
        {
            "feature_set": ["a", "a", "a", "a", "b", "b", "b"],
            "term": ["overall", "nucleus", "pooled", "cytosol", "nucleus", "cytosol", "overall"],
            "score": [0.3, 0.5, 9.0, 0.1, 0.2, -0.1, 0.05],
        }
    )
    fig = figures.fig2b(scores, "Fig 2B")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["nucleus", "cytosol", "overall"]  # no pooled
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.5, 0.1, 0.3, 0.2, -0.1, 0.05]
    save_figure(fig, tmp_path / "fig2b.png", tmp_path / "fig2b.pdf")
    assert (tmp_path / "fig2b.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "fig2b.png").stat().st_size > 3000
    assert (tmp_path / "fig2b.pdf").read_bytes().startswith(b"%PDF-")


def test_suppfig2_draws_each_vgg16_strategy_or_says_it_was_not_run():
    layers = list(VGG16_LAYERS)
    ran = pd.DataFrame(
        {"family": "vgg16_rgb", "status": "ran", "layer": layers, "k11": np.linspace(0.2, 0.6, len(layers))}
    )
    skipped = pd.DataFrame({"family": ["vgg16_protein"], "status": ["not run"], "layer": [layers[0]], "k11": [np.nan]})
    fig = figures.suppfig2(pd.concat([ran, skipped]), title="Supp Fig 2")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["rgb"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ran["k11"])
    plt.close(fig)
    none_ran = figures.suppfig2(skipped)
    assert [t.get_text() for t in none_ran.axes[0].texts] == ["VGG16 not run (no baselines.vgg16_weights)"]
    plt.close(none_ran)
    unconfigured = figures.suppfig2(skipped.iloc[:0])
    assert [t.get_text() for t in unconfigured.axes[0].texts] == ["VGG16 not configured"]
    plt.close(unconfigured)
