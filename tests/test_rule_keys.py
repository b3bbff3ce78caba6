"""The table of which config keys each rule reads (pcinpaint.rule_keys): complete against the
schema, used by every rule, and selecting exactly those keys as params."""

import re

import pytest
import yaml
from conftest import REPO, TEST_CONFIG

from pcinpaint.config import CONFIG_SCHEMA, load_config, validate_config
from pcinpaint.rule_keys import (
    ALWAYS,
    DERIVED,
    ONLY_IF,
    RULE_KEYS,
    TOP_LEVEL,
    UNTRACKED,
    RuleConfig,
    readers,
    rule_config,
    rule_keys,
)

SCHEMA = yaml.safe_load(CONFIG_SCHEMA.read_text())
#: sample values for the wildcards keys are written with
WILDCARDS = {"subset": "suppfig4", "name": "cellprofiler"}
#: every value a key's wildcard takes (the subsets are the schema's; imported names are free)
WILDCARD_VALUES = [WILDCARDS, {"subset": "suppfig5", "name": "cellprofiler"}]


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def schema_keys(node=None, prefix="", depth=0):
    """Every key of a dataset's block, two levels deep (deeper blocks count as one key)."""
    node = _resolve(node or SCHEMA["$defs"]["dataset"])
    properties = node.get("properties")
    if not properties or depth == 2:
        yield prefix
        return
    for key, child in properties.items():
        yield from schema_keys(child, f"{prefix}{key}." if depth < 1 else f"{prefix}{key}", depth + 1)


def dataset_keys():
    return [k.rstrip(".") for k in schema_keys()]


def in_schema(key: str) -> bool:
    """Whether a dotted key names a property of the dataset schema (additional-property names,
    such as an imported table's, are free)."""
    node = _resolve(SCHEMA["$defs"]["dataset"])
    for part in key.split("."):
        properties = node.get("properties")
        if properties is None:
            return "additionalProperties" in node or "patternProperties" in node
        if part not in properties:
            return False
        node = _resolve(properties[part])
    return True


def _declared():
    for keys in (*RULE_KEYS.values(), *DERIVED.values(), *UNTRACKED.values(), ALWAYS):
        for values in WILDCARD_VALUES:
            yield from (k.format(**values) for k in keys)


def test_every_key_of_a_dataset_is_read_by_a_rule():
    declared = set(_declared())

    def covered(key):
        return any(key == d or key.startswith(f"{d}.") or d.startswith(f"{key}.") for d in declared)

    missing = [k for k in dataset_keys() if not covered(k)]
    assert not missing, f"keys of the schema no rule reads: {missing}"


def test_every_key_in_the_table_is_a_key_of_the_schema():
    unknown = sorted({k for k in _declared() if not in_schema(k)})
    assert not unknown, f"keys in pcinpaint.rule_keys that the schema does not have: {unknown}"


def test_every_top_level_key_says_how_it_reaches_the_rules():
    assert set(TOP_LEVEL) == set(SCHEMA["properties"])


def _rules_with_params():
    """rule name -> the name its ``dataset=rule_params(...)`` passes, for every rule file."""
    found = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        rule = None
        for line in path.read_text().splitlines():
            if m := re.match(r"^(?:rule|checkpoint) (\w+):", line):
                rule = m.group(1)
            if m := re.search(r'dataset=rule_params\("(\w+)"\)', line):
                found[rule] = m.group(1)
    return found


def test_rules_take_their_own_entry_and_every_entry_is_a_rule():
    used = _rules_with_params()
    assert all(rule == name for rule, name in used.items()), used
    # umap_proteins draws every dataset: its panels take the entry through fig3_panels
    assert set(RULE_KEYS) == set(used) | {"umap_proteins"}
    assert set(DERIVED) - set(RULE_KEYS) <= {"feature_sets"}


def test_no_rule_reaches_the_config_another_way():
    """Params come from the table or are values computed from it (seeds, epochs, flags), never
    a dataset's block or key read in a rule file (the `ds=`/`bench=` of before)."""
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        assert not re.search(r"\b(ds|bench|entry|key|device|precision|rgb)=", text), path.name
        for block in re.findall(r"params:\n((?:        .*\n)+)", text):
            assert 'config["datasets"][wc.dataset][' not in block.replace("training_epochs(config", ""), path.name


def test_scripts_read_the_whole_config_only_for_untracked_keys():
    scripts = REPO / "workflow_scripts"
    readers_of_config = {p.stem for p in scripts.glob("*.py") if "snakemake.config" in p.read_text()}
    assert readers_of_config <= set(UNTRACKED), readers_of_config - set(UNTRACKED)


def test_params_are_exactly_the_rules_keys():
    config = validate_config(load_config(TEST_CONFIG))
    ds = config["datasets"]["sim_yeast"]
    knn = rule_config("knn_benchmark", ds)
    assert set(knn) == {"source", "channels", "benchmarks"}
    assert set(knn["benchmarks"]) == {k.split(".")[1] for k in RULE_KEYS["knn_benchmark"]} & set(ds["benchmarks"])
    assert "n_estimators" not in knn["benchmarks"]  # the random forest's only
    assert rule_config("classifier_benchmark", ds)["benchmarks"]["n_estimators"] == ds["benchmarks"]["n_estimators"]
    dendrograms = rule_config("single_cell_dendrograms", ds)["exploratory"]
    assert dendrograms["n_branches"] == ds["exploratory"]["n_branches"]
    assert "n_branches" not in rule_config("protein_clustering", ds)["exploratory"]
    # one subset's settings reach its own job only
    ds["exploratory"]["suppfig4"] = {"terms": ["vacuole"], "n_clusters": 2}
    subset = rule_config("subset_clustering", ds, {"dataset": "sim_yeast", "subset": "suppfig5"})
    assert "suppfig5" in subset["exploratory"] and "suppfig4" not in subset["exploratory"]


def test_a_key_passed_only_while_another_holds():
    config = validate_config(load_config(TEST_CONFIG))
    ds = config["datasets"]["sim_yeast"]
    assert ("gather_crops", "qc") in ONLY_IF
    ds["qc"] = {"drop_flagged": False, "focus_threshold": 0.1}
    assert "qc" not in rule_config("gather_crops", ds)
    ds["qc"]["drop_flagged"] = True
    assert rule_config("gather_crops", ds)["qc"]["drop_flagged"] is True


def test_params_do_not_depend_on_the_order_keys_were_written_in():
    config = validate_config(load_config(TEST_CONFIG))
    ds = config["datasets"]["sim_yeast"]
    shuffled = {k: ds[k] for k in reversed(list(ds))}
    shuffled["benchmarks"] = {k: ds["benchmarks"][k] for k in reversed(list(ds["benchmarks"]))}
    assert repr(rule_config("knn_benchmark", shuffled)) == repr(rule_config("knn_benchmark", ds))


def test_a_key_a_rule_was_not_given_names_the_rule():
    view = RuleConfig("knn_benchmark", {"benchmarks": {"ks": [1, 11]}})
    assert view["benchmarks"]["ks"] == [1, 11]
    assert view["benchmarks"].get("label_mode", "combined") == "combined"  # a quiet default
    with pytest.raises(KeyError, match=r"knn_benchmark reads benchmarks\.n_estimators"):
        view["benchmarks"]["n_estimators"]


def test_readers_of_a_key():
    assert readers("benchmarks.n_estimators") == ["classifier_benchmark"]
    assert readers("exploratory.n_branches") == ["single_cell_dendrograms"]
    assert "segment" in readers("segmentation.min_area") and "extract_classic" in readers("segmentation.min_area")
    assert set(readers("channels")) == set(RULE_KEYS)
    assert rule_keys("subset_clustering", WILDCARDS)[-1] == "exploratory.suppfig4"
