"""dry_run=true: each job says what it would do (train, resume, skip, replace, refused), found
by the same checks as a real run, and nothing is written."""

from pathlib import Path

from fungiclf.runs import STATE_DIR
from fungiclf.train import run_job


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def test_a_dry_run_says_what_each_job_would_do_and_writes_nothing(make_cfg, tmp_path, capsys):
    job = ["model=logreg", "trainer=smoke"]
    fresh = tmp_path / "fresh"
    assert run_job(make_cfg(*job, "dry_run=true"), fresh, job) is None
    assert (
        capsys.readouterr().out.strip()
        == f"dry run: model=logreg trainer=smoke -> {fresh}: would train logreg on synthetic"
    )
    assert not fresh.exists()

    done = tmp_path / "done"
    run_job(make_cfg(*job), done, job)
    before = snapshot(done)
    capsys.readouterr()
    cases = [
        ([], "refused: holds a completed run of this config (resume=true skips it)"),
        (["resume=true"], "skipped: holds a completed run of this config"),
        (["resume=true", "model.C=0.5"], "would replace its completed run (the config changed) and train logreg"),
        (["optimizer.lr=-1"], "refused: The 'lr' parameter of optimizer must be"),
    ]
    for extra, expected in cases:
        run_job(make_cfg(*job, *extra, "dry_run=true"), done, job + extra)
        said = capsys.readouterr().out.strip()
        assert said.split(f"-> {done}: ", 1)[1].startswith(expected), said
    assert snapshot(done) == before  # the completed run is untouched

    unfinished = tmp_path / "unfinished"
    (unfinished / STATE_DIR).mkdir(parents=True)  # the fit state a killed job leaves
    run_job(make_cfg(*job, "resume=true", "dry_run=true"), unfinished, [*job, "resume=true"])
    said = capsys.readouterr().out.strip()
    assert said.endswith(": would resume logreg on synthetic from its last completed epoch"), said
    assert [p.name for p in unfinished.iterdir()] == [STATE_DIR]
