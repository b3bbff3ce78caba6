"""Rule download_hpa: list the atlas images of the configured proteins and fetch them (resumable).

Failures another run may fix (beyond ``hpa.max_failures``) stop the job before its outputs are
written, so a plain rerun runs it again; the files fetched so far stay in the downloads cache, and
the tables of this attempt are written there, so the rerun asks only for what failed."""

import sys
from pathlib import Path

from pcinpaint.inputs import hpa
from pcinpaint.inputs.http import ClientSettings
from pcinpaint.io import write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    out, params = snakemake.output, snakemake.params
    cfg = dataset_params(snakemake)["hpa"]
    polite = ClientSettings(cfg["retries"], cfg["backoff_s"], cfg["rate_limit_s"], cfg["timeout_s"])
    cache = Path(params.cache)
    # what the download costs, once, as it starts (sizes measured by an earlier attempt where there is one)
    n = len(hpa.protein_list(cfg["proteins"], cfg["location_table"]))
    estimate = hpa.atlas_estimate(n, cfg["rate_limit_s"], cache / "manifest.tsv")
    cost = f"atlas download of dataset '{snakemake.wildcards.dataset}': {estimate}"
    log.info(cost)
    print(cost, file=sys.__stderr__)  # on the console too (the log takes sys.stderr)
    listing, failures = hpa.list_images(
        cfg["proteins"], cfg["base_url"], cache / "xml", location_table=cfg["location_table"], polite=polite
    )
    log.info(
        "%d composites listed for %d proteins; %d entries failed",
        len(listing),
        listing["protein"].nunique(),
        len(failures),
    )
    manifest = hpa.download_images(listing, cache / "images", polite=polite)
    counts = manifest["status"].value_counts().to_dict()
    log.info("images: %s (failures are listed in %s with their reason)", counts, out.manifest)
    attempt = {cache / "manifest.tsv": manifest, cache / "failed_entries.tsv": failures}
    key = f"datasets.{snakemake.wildcards.dataset}.hpa.max_failures"
    stop = hpa.retryable_failures(failures, manifest, cfg.get("max_failures", 0), str(cache / "manifest.tsv"), key)
    if stop:
        for path, table in attempt.items():
            write_table(table, path)
        log.error(stop)
        sys.exit(f"error: {stop}")
    for path in attempt:
        path.unlink(missing_ok=True)
    write_table(listing, out.listing)
    write_table(failures, out.failures)
    write_table(manifest, out.manifest)
    if not (manifest["status"] != "failed").any():
        sys.exit(f"error: {out.manifest}: no image could be fetched from {cfg['base_url']}; see the error column")
