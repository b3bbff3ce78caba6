"""The workflow on a SLURM cluster, as a cluster user runs it: `--profile profiles/slurm` through
the real executor plugin, on a site without conda, against the stand-in SLURM commands in
tests/slurm_site (strict like a real site: unknown accounts and partitions are refused, and so is
a GPU asked for outside the GPU partition)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TEST_CONFIG

pytest.importorskip("snakemake_executor_plugin_slurm", reason="the SLURM executor plugin is not installed")

SITE_BIN = Path(__file__).parent / "slurm_site" / "bin"
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
#: the profile's placeholders and what this site calls them
SITE_NAMES = {"EDIT_account": "lab_a", "EDIT_cpu": "cpu_std", "EDIT_gpu": "gpu_a100"}
GPU_RULES = {"train_pci", "extract_pci", "extract_random"}
#: this rule's first job is killed for memory by the site
OOM_RULE = "extract_raw"


def _rules_asking_for_a_gpu() -> set[str]:
    found = set()
    for path in (REPO / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", path.read_text(), re.M):
            if "gpu=1" in body:
                found.add(name)
    return found


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def site_env(site: Path, **extra) -> dict:
    """The environment of a user on this site: its SLURM commands first on PATH, no conda."""
    site.mkdir()
    path = os.pathsep.join([str(SITE_BIN), str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    assert shutil.which("conda", path=path) is None, "conda on the test PATH: this run must not have it"
    return {
        **os.environ,
        "PATH": path,
        "SLURM_STANDIN_DIR": str(site),
        "SLURM_STANDIN_ACCOUNTS": "lab_a,lab_b",
        "SLURM_STANDIN_PARTITIONS": "cpu_std,gpu_a100",
        "SLURM_STANDIN_GPU_PARTITIONS": "gpu_a100",
        **extra,
    }


def run_on_site(profile: Path, config: Path, target: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(profile)]
    cmd += [f"--configfile={config}", "--slurm-init-seconds-before-status-checks", "1", target]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """The test config (one epoch of training) built to `features` with the shipped profile, its
    placeholders filled in as a user does; returns the folder and every submission with its job."""
    work = tmp_path_factory.mktemp("slurm")
    profile = work / "profile"
    profile.mkdir()
    text = PROFILE.read_text()
    for placeholder, name in SITE_NAMES.items():
        assert placeholder in text, f"the profile lost its placeholder {placeholder}"
        text = text.replace(placeholder, name)
    (profile / "config.yaml").write_text(text)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    for ds in config["datasets"].values():
        ds.setdefault("model", {})["epochs"] = 1
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    site = work / "site"
    env = site_env(site, SLURM_STANDIN_OOM_ONCE=OOM_RULE)
    proc = run_on_site(profile, work / "config.yaml", "features", cwd=work, env=env)
    submissions = []
    log = site / "sbatch.jsonl"
    for line in log.read_text().splitlines() if log.exists() else []:
        record = json.loads(line)
        argv = record["argv"]
        job = json.loads((site / "jobs" / f"{record['job_id']}.json").read_text())
        comment = _option(argv, "--comment")
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", comment).group(1)
        submissions.append({"rule": rule, "comment": comment, "argv": argv, "submitted": record["time"], **job})
    return {"proc": proc, "work": work, "config": config, "submissions": submissions}


@pytest.mark.workflow
def test_the_run_finishes_with_every_output(slurm_run):
    proc = slurm_run["proc"]
    assert proc.returncode == 0, proc.stderr[-4000:]
    for dataset in slurm_run["config"]["datasets"]:
        features = slurm_run["work"] / "results" / dataset / "features"
        for name in [f"{net}_conv{i}" for net in ("pci", "random") for i in range(1, 6)] + ["raw"]:
            assert (features / f"{name}.parquet").stat().st_size > 0, f"{dataset}: {name} missing"
    rules = {s["rule"] for s in slurm_run["submissions"]}
    assert {"segment", "gather_crops", "train_pci", "extract_pci", "extract_random", "extract_raw"} <= rules
    # the sample sheet is a local rule: checked on the submitting host, never sent to a node
    assert "samplesheet" not in rules


@pytest.mark.workflow
def test_gpu_rules_go_to_the_gpu_partition_and_cpu_rules_do_not(slurm_run):
    for sub in slurm_run["submissions"]:
        argv, line = sub["argv"], " ".join(sub["argv"])
        assert _option(argv, "-A") == "lab_a", line
        assert int(_option(argv, "--mem")) >= 500, line
        assert int(_option(argv, "-t")) >= 15, line
        if sub["rule"] in GPU_RULES:
            assert _option(argv, "-p") == "gpu_a100", line
            assert _option(argv, "--gpus") == "1", line
            assert _option(argv, "--cpus-per-gpu") == "8", line
        else:
            assert _option(argv, "-p") == "cpu_std", line
            assert _option(argv, "--gpus") is _option(argv, "--gres") is _option(argv, "--cpus-per-gpu") is None, line


@pytest.mark.workflow
def test_gpu_jobs_run_side_by_side(slurm_run):
    """No one-GPU limit on the cluster: a GPU job is submitted while another is still running."""
    gpu = sorted((s for s in slurm_run["submissions"] if s["rule"] in GPU_RULES), key=lambda s: s["submitted"])
    overlapping = [(a, b) for a in gpu for b in gpu if a is not b and a["started"] <= b["submitted"] < a["ended"]]
    assert overlapping, [(s["comment"], s["submitted"], s["ended"]) for s in gpu]


@pytest.mark.workflow
def test_a_job_killed_for_memory_is_resubmitted_with_more(slurm_run):
    tries = [s for s in slurm_run["submissions"] if s["rule"] == OOM_RULE]
    killed = [s for s in tries if s["state"] == "OUT_OF_MEMORY"]
    assert len(killed) == 1
    retry = [s for s in tries if s["comment"] == killed[0]["comment"] and s["submitted"] > killed[0]["submitted"]]
    assert len(retry) == 1 and retry[0]["state"] == "COMPLETED"
    assert int(_option(retry[0]["argv"], "--mem")) == 2 * int(_option(killed[0]["argv"], "--mem"))


def test_the_profile_sends_every_gpu_rule_to_the_gpu_partition():
    profile = yaml.safe_load(PROFILE.read_text())
    assert "use-conda" not in profile and "software-deployment-method" not in profile
    gpu_rules = _rules_asking_for_a_gpu()
    assert GPU_RULES < gpu_rules
    assert set(profile["set-resources"]) == gpu_rules
    for rule in gpu_rules:
        assert profile["set-resources"][rule]["slurm_partition"] == "EDIT_gpu"
    assert profile["default-resources"]["slurm_partition"] == "EDIT_cpu"
    # the workstation's one-GPU limit is scoped to local runs
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert default["resources"]["gpu"] == 1 and default["set-resource-scopes"]["gpu"] == "local"


def test_an_unedited_profile_stops_at_the_first_submission_naming_the_placeholder(tmp_path):
    proc = run_on_site(
        PROFILE.parent,
        TEST_CONFIG,
        "results/sim_human/simulated/samplesheet.tsv",
        cwd=tmp_path,
        env=site_env(tmp_path / "site"),
    )
    assert proc.returncode != 0
    assert "The given account EDIT_account appears to be invalid" in proc.stdout + proc.stderr
    assert not (tmp_path / "site" / "sbatch.jsonl").exists()
