"""The segmentation's QC tables: detection against the simulated truth."""

import pandas as pd
import pytest

from pcinpaint.crops.segmentation_qc import detection_qc


def test_detection_qc_counts_hits_duplicates_and_misses():
    truth = pd.DataFrame(
        dict(
            field_id=["f"] * 4,
            truth_label=[1, 2, 3, 4],
            touching=[True, True, False, False],
            at_border=[False, False, False, True],
        )
    )
    objects = pd.DataFrame(dict(field_id=["f"] * 5, truth_label=[1, 1, 3, 0, 4]))  # dup in 1, one on background
    table = detection_qc(objects, truth).set_index("field_id")
    # border cell 4 and its detection are left out: 3 true cells, 4 detections, 2 hit
    assert table.loc["all", "n_true"] == 3 and table.loc["all", "n_detected"] == 4
    assert table.loc["all", "precision"] == pytest.approx(2 / 4)
    assert table.loc["all", "recall"] == pytest.approx(2 / 3)
    assert table.loc["touching", "recall"] == pytest.approx(1 / 2)
