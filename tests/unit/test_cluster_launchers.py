"""The cluster launchers' own logic, without a cluster: Ray jobs sized to the nodes found, the
launching side's environment carried to them, failed jobs noted by the driver from their run
folders, and a Submitit job marked as requeued when SIGUSR2 resubmits it."""

import json

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException

from fungiclf.errors import FAILURES_FILE_ENV, REQUEUED_ENV
from fungiclf.job_outcomes import checked
from fungiclf.ray_launcher import fit_to_cluster, job_environment, run_in_folder

NODES = [{"CPU": 2.0, "memory": 1e9}, {"CPU": 16.0, "GPU": 2.0}]


def test_a_ray_job_asks_what_the_cluster_can_give():
    assert fit_to_cluster({}, [{"CPU": 2.0}], "auto") == {"num_cpus": 2.0, "num_gpus": 0}  # the old 4 hung here
    assert fit_to_cluster({"num_cpus": None}, NODES, "auto") == {"num_cpus": 4, "num_gpus": 0}
    assert fit_to_cluster({"num_cpus": 8, "num_gpus": 2, "max_retries": 0}, NODES, None)["max_retries"] == 0


@pytest.mark.parametrize(
    "remote, message",
    [
        (
            {"num_cpus": 32},
            "hydra.launcher.ray.remote.num_cpus=32: no node of the Ray cluster at head:6379 has that many "
            "CPUs (the largest has 16); ask at most 16",
        ),
        ({"num_gpus": 1}, "num_gpus=1: no node of the Ray cluster at head:6379 has that many GPUs (the largest has 0)"),
    ],
)
def test_a_ray_job_no_node_can_hold_is_refused_in_one_line(remote, message):
    nodes = NODES if "num_cpus" in remote else NODES[:1]
    with pytest.raises(HydraException) as refused:
        fit_to_cluster(remote, nodes, "head:6379")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_ray_jobs_get_the_launching_sides_fungiclf_variables_but_not_its_failures_file():
    env = job_environment({"FUNGICLF_CACHE": "/shared/cache", FAILURES_FILE_ENV: "/tmp/x", "HOME": "/root"})
    assert env == {"FUNGICLF_CACHE": "/shared/cache", FAILURES_FILE_ENV: ""}


def test_a_ray_job_runs_in_the_launching_folder_or_says_the_node_lacks_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="is not on this node .* launch from a folder every node shares"):
        run_in_folder(str(tmp_path / "elsewhere"), None, None, None, None)


def failures_file(tmp_path, monkeypatch):
    file = tmp_path / "failed.txt"
    file.write_text("")
    monkeypatch.setenv(FAILURES_FILE_ENV, str(file))
    return file


def test_the_driver_notes_a_job_that_failed_on_another_node(tmp_path, monkeypatch):
    file = failures_file(tmp_path, monkeypatch)
    for name, status in (("ok", "completed"), ("bad", "failed")):
        (tmp_path / name).mkdir()
        record = {"status": status, "error": "loss became NaN at epoch 1"}
        if status == "completed":
            record.update(classes=["a", "b"], model="cnn", test={"accuracy": 0.9})
        (tmp_path / name / "metrics.json").write_text(json.dumps(record))
        result = JobReturn(status=JobStatus.COMPLETED, _return_value=0.9 if status == "completed" else None)
        assert checked(result, tmp_path / name) is result
    assert file.read_text() == f"{tmp_path / 'bad'}: loss became NaN at epoch 1\n"


def test_a_job_whose_task_died_is_noted_and_counted_without_a_value(tmp_path, monkeypatch):
    file = failures_file(tmp_path, monkeypatch)
    returned = checked(RuntimeError("the worker died\nunexpectedly"), tmp_path / "3")
    assert returned.status == JobStatus.COMPLETED and returned.return_value is None
    assert file.read_text() == f"{tmp_path / '3'}: RuntimeError: the worker died unexpectedly\n"


def test_sigusr2_resubmits_a_submitit_job_marked_as_requeued():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra_plugins.fungiclf_submitit_launcher import LocalLauncher

    launcher = LocalLauncher(submitit_folder="x", timeout_min=1)
    again = launcher.checkpoint(["model=cnn"], "hydra.sweep.dir", 0, "job_id_for_0", {})
    assert again.args[0] == ["model=cnn", f"++hydra.job.env_set.{REQUEUED_ENV}=1"]
    twice = launcher.checkpoint(again.args[0], "hydra.sweep.dir", 0, "job_id_for_0", {})
    assert twice.args[0] == again.args[0]  # requeued twice: marked once


def test_a_requeued_job_resumes(monkeypatch, caplog):
    from fungiclf.settings.resolve import requeued

    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    monkeypatch.delenv(REQUEUED_ENV, raising=False)
    assert not requeued()
    monkeypatch.setenv(REQUEUED_ENV, "1")
    assert requeued()
