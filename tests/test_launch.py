"""The checks and pieces behind multi-process training and resume, without starting any rank."""
import os
import socket
from dataclasses import replace

import pytest
import torch
from mlflow.tracking import MlflowClient

from flows import tracking
from flows.core.params import TrainSpec, train_spec
from flows.training import checkpoints
from flows.training.launch import layout
from flows.training.lightning_fit import fit, loaders
from models.config import NetworkConfig, OptimConfig
from models.errors import InvalidParameter, RnnopsError
from models.windows import WindowDataset
from tests.conftest import tiny_params, write_params

SPEC = TrainSpec(NetworkConfig(kind="lstm", hidden_size=4), OptimConfig(epochs=2, batch_size=20), seed=7)

DATA = tracking.DataInput("cosine-windows", "abc123", "generated", "cos(x)", {"train": 1, "val": 1})


def one_sentence(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0, text
    return text


def test_auto_is_the_gpus_when_there_are_any_else_one_cpu_process():
    auto = replace(SPEC, devices="auto")
    assert layout(auto, cuda_count=0) == layout(SPEC, cuda_count=0)
    cpu = layout(auto, cuda_count=0)
    assert (cpu.accelerator, cpu.devices, cpu.world, cpu.strategy, cpu.precision) == ("cpu", 1, 1, "auto", None)
    gpus = layout(auto, cuda_count=4)  # the GPU path, resolved on a CPU machine
    assert (gpus.accelerator, gpus.devices, gpus.world, gpus.strategy) == ("gpu", 4, 4, "ddp")
    nodes = layout(replace(SPEC, devices=4, num_nodes=2, accelerator="gpu", precision="bf16-mixed",
                           optim=replace(SPEC.optim, batch_size=32)), cuda_count=4)
    assert (nodes.world, nodes.precision) == (8, "bf16-mixed")
    assert train_spec(tiny_params(), "cosine", "lstm").devices == "auto"  # params' default


@pytest.mark.parametrize("change, words", [
    ({"devices": 3}, "batch_size 20 does not split evenly over 3 processes"),
    ({"devices": 2, "num_nodes": 3}, "multiple of 6"),
    ({"accelerator": "gpu"}, "has no CUDA GPU"),
    ({"strategy": "ddp_spawn"}, "never from inside the stage"),
    ({"devices": 0}, "devices must be a positive integer or auto"),
    ({"precision": "8-bit"}, "precision must be one of"),
])
def test_impossible_runtimes_are_one_sentence(change, words):
    with pytest.raises(InvalidParameter) as err:
        layout(replace(SPEC, **change), "cosine.train.lstm", cuda_count=0)
    assert words in one_sentence(err)


def test_the_union_of_the_rank_batches_is_the_one_process_batch():
    data = WindowDataset(torch.arange(230.0).numpy(), 10)  # 220 windows: 11 global batches of 20
    for epoch in (0, 1):
        alone, _ = loaders(SPEC, data, None, 0, 1)
        ranks = [loaders(SPEC, data, data, r, 2) for r in (0, 1)]
        for loader in [alone] + [train for train, _ in ranks]:
            loader.sampler.set_epoch(epoch)  # what Lightning does at every epoch start
        one = [sorted(y.flatten().tolist()) for _, y in alone]
        two = [sorted(a[1].flatten().tolist() + b[1].flatten().tolist()) for a, b in zip(*(t for t, _ in ranks))]
        assert one == two and len(one) == 11
        val = sorted(y.item() for _, v in ranks for _, ys in v for y in ys)  # every item once, none padded
        assert val == sorted(data[i][1].item() for i in range(len(data)))
    assert one != [sorted(y.flatten().tolist()) for _, y in loaders(replace(SPEC, seed=100), data, None, 0, 1)[0]]


def test_fit_never_starts_ranks_itself():
    data = WindowDataset(torch.arange(50.0).numpy(), 5)
    with pytest.raises(RnnopsError) as err:
        fit(replace(SPEC, devices=2, accelerator="cpu"), lambda: None, data, None)
    assert "run the train stage, which starts them under torchrun" in one_sentence(err)


def test_a_checkpoint_resumes_only_the_same_unfinished_training(tmp_path):
    where = layout(SPEC, cuda_count=0)
    key = checkpoints.key(SPEC, where, "md5a")
    assert key != checkpoints.key(replace(SPEC, optim=replace(SPEC.optim, lr=0.01)), where, "md5a")
    assert key != checkpoints.key(SPEC, where, "md5b")
    assert key != checkpoints.key(SPEC, layout(replace(SPEC, devices=2), cuda_count=0), "md5a")
    assert key == checkpoints.key(replace(SPEC, keep_checkpoint=True), where, "md5a")  # keeping changes nothing
    fresh = checkpoints.plan(tmp_path, "cosine", "lstm", key)
    assert fresh.ckpt is None
    checkpoints.start_fresh(fresh, "run1")
    assert checkpoints.plan(tmp_path, "cosine", "lstm", key).ckpt is None  # no epoch saved yet
    (fresh.folder / checkpoints.CKPT).write_bytes(b"x")
    found = checkpoints.plan(tmp_path, "cosine", "lstm", key)
    assert (found.ckpt, found.run_id) == (fresh.folder / checkpoints.CKPT, "run1")
    assert checkpoints.plan(tmp_path, "cosine", "lstm", "otherkey").ckpt is None  # changed config: stale
    checkpoints.finish(found, keep=True)
    assert (fresh.folder / checkpoints.CKPT).exists() and checkpoints.plan(tmp_path, "cosine", "lstm", key).ckpt is None
    checkpoints.finish(found, keep=False)
    assert not fresh.folder.exists()
    assert str(fresh.folder.relative_to(tmp_path)).startswith(".dvc/tmp/")  # never a DVC out or dep


def test_resuming_reopens_the_run_a_later_training_marked_killed(tmp_path, mlflow_uri):
    first = tracking.start_training_run(tmp_path, "cosine", "lstm", {"optim.lr": 0.1}, DATA)
    client = MlflowClient(mlflow_uri)
    client.set_tag(first.run_id, tracking.OWNER, "999999999@" + socket.gethostname())  # its process is gone
    tracking.start_training_run(tmp_path, "cosine", "gru", {}, DATA)  # close_ghosts marks it KILLED
    assert client.get_run(first.run_id).info.status == "KILLED"
    again = tracking.start_training_run(tmp_path, "cosine", "lstm", {"optim.lr": 0.1}, DATA, resume=(first.run_id, 3))
    assert again.run_id == first.run_id and again.resumed
    run = client.get_run(first.run_id)
    assert run.info.status == "RUNNING" and "failure" not in run.data.tags
    assert run.data.tags[tracking.RESUMES] == "1" and run.data.tags["rnnops.resume.1"] == "after epoch 3"
    assert run.data.tags[tracking.OWNER].startswith(f"{os.getpid()}@")
    tracking.start_training_run(tmp_path, "cosine", "rnn", {}, DATA)  # its owner is alive now: left alone
    assert client.get_run(first.run_id).info.status == "RUNNING"
    client.delete_run(first.run_id)
    other = tracking.start_training_run(tmp_path, "cosine", "lstm", {}, DATA, resume=(first.run_id, 3))
    assert other.run_id != first.run_id and not other.resumed  # a deleted run is not reopened


def test_the_train_stage_refuses_an_impossible_batch_split_in_one_line(tmp_path, monkeypatch, capsys):
    from flows.orchestration.stage_command import stage_main
    from flows.stages.train import train

    params = tiny_params()
    params["cosine"]["train"]["lstm"].update(devices=3, accelerator="cpu")
    write_params(tmp_path, params)
    for upstream in ("data/raw/cosine", "data/windows/cosine"):  # there, so the stage gets as far as its params
        (tmp_path / upstream).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert stage_main(train, True, ["cosine", "lstm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnops: error: cosine.train.lstm.batch_size 20 does not split") and "\n" not in err
