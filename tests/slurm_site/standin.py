"""A one-machine SLURM site for tests: sbatch, sacct, squeue, srun, sinfo, sacctmgr, scontrol and
scancel as the executor plugin calls them, each job run at once on this machine.

The site is described by environment variables, so a test can make it strict like a real one:
``SLURM_STANDIN_DIR`` (where jobs, their scripts and ``sbatch.jsonl`` go; required),
``SLURM_STANDIN_ACCOUNTS`` (comma-separated; a job naming another account is refused),
``SLURM_STANDIN_PARTITIONS`` (comma-separated; the first is the default, a job naming another
is refused), ``SLURM_STANDIN_GPU_PARTITIONS`` (the partitions with GPUs: a job asking for a GPU
elsewhere is refused, as a real site answers "Requested node configuration is not available"),
and ``SLURM_STANDIN_OOM_ONCE`` (a rule name: its first job ends OUT_OF_MEMORY without running,
to test that the workflow resubmits it with more memory).

Every sbatch call is appended to ``sbatch.jsonl`` (argv, job id, time); each job's state, start
and end times are kept in ``jobs/<id>.json``. The bin/ folder beside this file holds one wrapper
per command, to put first on PATH.
"""

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

SITE = Path(os.environ.get("SLURM_STANDIN_DIR", ""))
JOBS = SITE / "jobs"
#: sbatch options that take no value
FLAGS = {"--parsable", "--requeue", "--no-requeue", "--export=ALL"}


def _list(name: str, default: str) -> list[str]:
    return [v for v in os.environ.get(name, default).split(",") if v]


def _save(job_id: str, record: dict) -> None:
    tmp = JOBS / f"{job_id}.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, JOBS / f"{job_id}.json")


def _load(job_id: str) -> dict:
    return json.loads((JOBS / f"{job_id}.json").read_text())


def _jobs() -> list[tuple[str, dict]]:
    return sorted(
        ((p.stem, json.loads(p.read_text())) for p in JOBS.glob("*.json")),
        key=lambda item: int(item[0]),
    )


def _next_id() -> str:
    with open(SITE / "counter.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counter = SITE / "counter"
        n = int(counter.read_text()) + 1 if counter.exists() else 1000
        counter.write_text(str(n))
    return str(n)


def parse_sbatch(argv: list[str]) -> tuple[dict, list[str]]:
    """sbatch's options as {name: value} (long names, no dashes) and its positional arguments."""
    short = {"-A": "account", "-p": "partition", "-t": "time", "-D": "chdir", "-C": "constraint", "-J": "job-name"}
    options, positional, i = {}, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in FLAGS or arg.startswith("--export"):
            options[arg.lstrip("-").split("=")[0]] = True
        elif arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            options[key] = value
        elif arg.startswith("-") and arg != "-":
            key = short.get(arg, arg.lstrip("-"))
            options[key] = argv[i + 1]
            i += 1
        else:
            positional.append(arg)
        i += 1
    return options, positional


def _refuse(message: str) -> int:
    print(f"sbatch: error: {message}", file=sys.stderr)
    return 1


def sbatch(argv: list[str]) -> int:
    options, positional = parse_sbatch(argv)
    partitions = _list("SLURM_STANDIN_PARTITIONS", "cpu")
    partition = options.get("partition", partitions[0])
    wants_gpu = "gpus" in options or "gpu" in str(options.get("gres", ""))
    if partition not in partitions:
        return _refuse(f"invalid partition specified: {partition}")
    if options.get("account") not in (None, *_list("SLURM_STANDIN_ACCOUNTS", "")):
        return _refuse("Batch job submission failed: Invalid account or account/partition combination specified")
    if wants_gpu and partition not in _list("SLURM_STANDIN_GPU_PARTITIONS", ""):
        return _refuse("Batch job submission failed: Requested node configuration is not available")
    if "wrap" in options:
        script = f"#!/bin/sh\n{options['wrap']}\n"
    elif positional:
        script = sys.stdin.read() if positional[0] == "/dev/stdin" else Path(positional[0]).read_text()
    else:
        return _refuse("no batch script given")
    JOBS.mkdir(parents=True, exist_ok=True)
    job_id = _next_id()
    (JOBS / f"{job_id}.sh").write_text(script)
    record = {
        "name": options.get("job-name", "sbatch"),
        "comment": options.get("comment", ""),
        "state": "PENDING",
        "submitted": time.time(),
        "output": options.get("output", "slurm-%j.out").replace("%j", job_id),
        "chdir": options.get("chdir", os.getcwd()),
        "cpus": options.get("cpus-per-task") or options.get("cpus-per-gpu") or "1",
        "gpus": options.get("gpus", ""),
    }
    _save(job_id, record)
    with open(SITE / "sbatch.jsonl", "a") as log:
        log.write(json.dumps({"job_id": job_id, "time": record["submitted"], "argv": argv}) + "\n")
    subprocess.Popen(
        [sys.executable, __file__, "run-job", job_id],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(job_id)
    return 0


def _first(marker: Path) -> bool:
    """Whether this call created ``marker``: atomic, so of two jobs of the rule running at once
    only one is killed."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def run_job(job_id: str) -> int:
    """The job itself: its script in its folder, with the variables SLURM sets."""
    record = _load(job_id)
    oom_rule = os.environ.get("SLURM_STANDIN_OOM_ONCE")
    marker = SITE / f"oom_{oom_rule}"
    if oom_rule and record["comment"].startswith(f"rule_{oom_rule}") and _first(marker):
        _save(job_id, {**record, "state": "OUT_OF_MEMORY", "started": time.time(), "ended": time.time()})
        return 0
    env = {**os.environ, "SLURM_JOB_ID": job_id, "SLURM_JOBID": job_id, "SLURM_JOB_NAME": record["name"]}
    env["SLURM_CPUS_PER_TASK"] = str(record["cpus"])
    if record["gpus"]:
        env["SLURM_GPUS"] = record["gpus"]
    output = Path(record["chdir"], record["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    _save(job_id, {**record, "state": "RUNNING", "started": time.time(), "pid": os.getpid()})
    with open(output, "w") as out:
        code = subprocess.call(["sh", str(JOBS / f"{job_id}.sh")], cwd=record["chdir"], env=env, stdout=out, stderr=out)
    record = _load(job_id)
    if record["state"] != "CANCELLED":
        _save(job_id, {**record, "state": "COMPLETED" if code == 0 else "FAILED", "ended": time.time()})
    return 0


def _value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def job_states(argv: list[str]) -> int:
    """sacct / squeue: ``<id>|<state>`` per job of the given name (the plugin's status query)."""
    name = _value(argv, "--name")
    if name is None:
        return 0  # account guesses, node lists and failure reasons: nothing recorded here
    for job_id, record in _jobs():
        if record["name"] == name:
            print(f"{job_id}|{record['state']}")
    return 0


def srun(argv: list[str]) -> int:
    """Run the command after srun's options in this allocation (the job step)."""
    valued = {"-n", "-c", "-N", "-J", "--ntasks", "--cpus-per-task", "--gpus", "--mem", "--jobid", "--nodes"}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in valued else 1
    command = argv[i:]
    if not command:
        print("srun: error: no command given", file=sys.stderr)
        return 1
    os.execvp(command[0], command)


def scancel(argv: list[str]) -> int:
    for job_id in (a for arg in argv if not arg.startswith("-") for a in arg.split(",")):
        if (JOBS / f"{job_id}.json").exists():
            record = _load(job_id)
            if "pid" in record and record["state"] == "RUNNING":
                try:
                    os.killpg(record["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    pass
            _save(job_id, {**record, "state": "CANCELLED", "ended": time.time()})
    return 0


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "run-job":
        return run_job(args[0])
    if command == "sbatch":
        return sbatch(args)
    if command in ("sacct", "squeue"):
        return job_states(args)
    if command == "srun":
        return srun(args)
    if command == "scancel":
        return scancel(args)
    if command == "sinfo":
        print("\n".join(_list("SLURM_STANDIN_PARTITIONS", "cpu")))
        return 0
    if command == "sacctmgr":
        print("\n".join(_list("SLURM_STANDIN_ACCOUNTS", "")))
        return 0
    if command == "scontrol":
        if args[:2] == ["show", "config"]:
            print("MinJobAge               = 300 sec")
        return 0
    print(f"{command}: not part of this stand-in site: {shlex.join(argv)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
