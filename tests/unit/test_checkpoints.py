"""Checkpoints: round trip, atomic writes, and refusal of anything untrustworthy."""

import json
import os
import pickle
import struct
import subprocess
import sys

import pytest
import torch

from tui_vae import checkpoints as ck
from tui_vae.errors import CheckpointError
from tui_vae.models import ModelConfig, build_model


def save_tiny(path, config=None, **kwargs):
    config = config or ModelConfig(latent_dim=3, hidden_dim=16)
    model = build_model(config, seed=0)
    meta = ck.build_metadata(config, {"seed": 5, "epochs": 1}, {"epochs_done": 1, "step": 0},
                             [{"epoch": 1, "train": {}, "test": {"loss": 99.0}}])
    ck.save_checkpoint(path, model, meta, **kwargs)
    return model, meta


def test_round_trip_keeps_weights_metadata_and_optimizer_state(tmp_path):
    path = tmp_path / "m.safetensors"
    config = ModelConfig(model="cvae", latent_dim=3, hidden_dim=16, beta=0.0)
    model = build_model(config, seed=0)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(4, 1, 28, 28), torch.arange(4))[0].sum().backward()
    optimizer.step()
    meta = ck.build_metadata(config, {"seed": 5}, {"epochs_done": 2, "step": 0}, [])
    rng = torch.Generator().manual_seed(9).get_state()
    ck.save_checkpoint(path, model, meta, optimizer.state_dict(), {"noise": rng})
    loaded = ck.load_checkpoint(path)
    assert loaded.meta["model"] == config.to_dict() and loaded.info.epochs_done == 2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    restored = torch.optim.Adam(loaded.model.parameters())
    restored.load_state_dict(loaded.optimizer_state)
    for original, reloaded in zip(model.parameters(), loaded.model.parameters()):
        assert torch.equal(optimizer.state[original]["exp_avg_sq"],
                           restored.state[reloaded]["exp_avg_sq"])
    assert torch.equal(loaded.rng_state["noise"], rng)
    for field in ("format_version", "package_version", "created", "seed", "dataset", "history"):
        assert field in loaded.meta


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    before = path.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(CheckpointError, match="No space left"):
        save_tiny(path, ModelConfig(latent_dim=5, hidden_dim=8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp files
    monkeypatch.undo()
    ck.load_checkpoint(path)


def test_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name in ("evil.pt", "evil.pth", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Exploit(), protocol=2))
        with pytest.raises(CheckpointError, match="pickle"):
            ck.load_checkpoint(path)
    zipped = tmp_path / "zipped.safetensors"
    torch.save({"w": torch.zeros(2)}, zipped)
    with pytest.raises(CheckpointError, match="zip"):
        ck.load_checkpoint(zipped)
    assert not marker.exists()


def rewrite_meta(path, edit):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["tui_vae"])
    edit(meta, header)
    header["__metadata__"]["tui_vae"] = json.dumps(meta)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


@pytest.mark.parametrize("edit, message", [
    (lambda m, h: m.update(format_version=99), "format version 99"),
    (lambda m, h: m.update(format_version=True), "format version True"),  # == 1 in Python
    # Both once reached the "unexpected" handler (int("x"); a NUL byte in a path).
    (lambda m, h: h.update({"optim.x.exp_avg": h.pop("model.fc_mu.bias")}), "misnamed"),
    (lambda m, h: m["model"].update(dataset="folder:/tmp/\0x"), "unknown dataset"),
    (lambda m, h: m.update(format_version=1.0), "format version 1.0"),
    (lambda m, h: m["model"].update(hidden_dim="wide"), "hidden_dim"),
    (lambda m, h: m["model"].update(hidden_dim=17), "do not match"),
    (lambda m, h: m["model"].update(model="gan"), "unknown model kind"),
    (lambda m, h: m.update(history="nope"), "history"),
    (lambda m, h: m.update(format="other"), "not a tui-vae checkpoint"),
    (lambda m, h: h["model.fc_mu.weight"].update(shape=[1 << 40, 1 << 20]), "absurd shape"),
    (lambda m, h: h["model.fc_mu.weight"].update(dtype="F99"), "dtype"),
    (lambda m, h: h["model.fc_mu.weight"].update(dtype="I32"), "holds I32 values, not floating"),
    (lambda m, h: m.update(dataset="kmnist"), "names two datasets"),
    # A resumed epoch reported "train 0.00" from a crafted count of 1e300.
    (lambda m, h: m["progress"].update(step=3, partial={"count": 1e300}), "partial"),
    (lambda m, h: m["progress"].update(step=3, partial={"count": 10**12}), "partial"),
    (lambda m, h: m["progress"].update(step=3, partial={"recon": 1e309}), "partial"),
    (lambda m, h: m["progress"].update(average_steps="many"), "average_steps"),
    (lambda m, h: m["progress"].update(average_steps=-1), "average_steps"),
    (lambda m, h: m["progress"].update(average_every=0), "average_every"),
    (lambda m, h: m["progress"].update(average_every=2.5), "average_every"),
    (lambda m, h: m["training"].update(average=1.5), "training.average"),
    # z beyond what the views and eval handle whole (their PCA and surgery tables).
    (lambda m, h: m["model"].update(latent_dim=1025), "latent_dim = 1025 is out of range"),
])
def test_bad_metadata_is_a_one_line_error(tmp_path, edit, message):
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    rewrite_meta(path, edit)
    with pytest.raises(CheckpointError, match=message) as info:
        ck.load_checkpoint(path)
    assert "\n" not in str(info.value)


def _overlapping(path):
    def edit(meta, header):  # the second tensor's bytes start inside the first's
        first, second = sorted((e for k, e in header.items() if k != "__metadata__"),
                               key=lambda e: e["data_offsets"][0])[:2]
        size = second["data_offsets"][1] - second["data_offsets"][0]
        second["data_offsets"] = [first["data_offsets"][0], first["data_offsets"][0] + size]
    rewrite_meta(path, edit)


def _with_bom(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    path.write_bytes(struct.pack("<Q", n + 3) + b"\xef\xbb\xbf" + raw[8:])


@pytest.mark.parametrize("damage, words", [
    (_overlapping, "overlap"),
    (lambda path: path.write_bytes(path.read_bytes() + b"\0" * 64), "64 bytes after"),
    (_with_bom, "does not start with"),
])
def test_a_file_safetensors_would_refuse_is_refused_by_the_listing_too(tmp_path, damage, words):
    # `models` listed these three as healthy rows, with metrics; `sample` and `eval`
    # then refused them ("incomplete metadata, file not fully covered").
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    ck.read_info(path)  # the file as saved is whole
    damage(path)
    with pytest.raises(CheckpointError, match=words):
        ck.read_info(path)
    (listed,) = ck.list_checkpoints(tmp_path)
    assert isinstance(listed, ck.BadCheckpoint) and words in listed.reason


@pytest.mark.parametrize("cut", [3, 8, 40, -100, -1])
def test_truncated_files_are_refused(tmp_path, cut):
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(path)


def test_missing_file_and_garbage(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        ck.load_checkpoint(tmp_path / "absent.safetensors")
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(garbage)


def test_listing_reads_headers_only_without_torch(tmp_path):
    save_tiny(tmp_path / "a.safetensors")
    (tmp_path / "b.safetensors").write_bytes(b"junk")
    code = (
        "import sys; from tui_vae.checkpoints import list_checkpoints, CheckpointInfo;"
        f"items = list_checkpoints({str(tmp_path)!r});"
        "print([type(i).__name__ for i in items]);"
        "assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "['CheckpointInfo', 'BadCheckpoint']" in result.stdout


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from tui_vae.checkpoints import atomic_write_bytes

    atomic_write_bytes(tmp_path / "f.bin", b"data")
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((tmp_path / "f.bin").stat().st_mode)
    assert mode == 0o666 & ~mask  # not mkstemp's private 0600


def test_a_file_saved_anew_keeps_its_permissions(tmp_path):
    """A private checkpoint (0600) saved again by --resume stays private."""
    path = tmp_path / "private.safetensors"
    ck.atomic_write_bytes(path, b"first")
    path.chmod(0o600)
    ck.atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second" and (path.stat().st_mode & 0o777) == 0o600
    fresh = tmp_path / "fresh.safetensors"
    ck.atomic_write_bytes(fresh, b"new")  # a new file: 0o666 less the umask, as any
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_history_too_long_to_read_back_is_never_saved(tmp_path):
    """A header the reader would refuse (over 16 MiB: a run of ~60,000 epochs) is not
    written: the run's last good save stays, and the error says why."""
    path = tmp_path / "long.safetensors"
    model, _ = save_tiny(path)
    before = path.read_bytes()
    config = ModelConfig(latent_dim=3, hidden_dim=16)
    record = {"epoch": 1, "train": {"loss": 100.0, "recon": 80.0, "kl": 20.0},
              "test": {"loss": 99.0, "recon": 79.0, "kl": 20.0}, "seconds": 1.5}
    history = [dict(record, epoch=k) for k in range(1, 200_001)]
    meta = ck.build_metadata(config, {"seed": 5, "epochs": 200_000},
                             {"epochs_done": 1, "step": 0}, history)
    with pytest.raises(CheckpointError, match="over the 16 MiB a checkpoint may hold"):
        ck.save_checkpoint(path, model, meta)
    assert path.read_bytes() == before
    assert ck.MAX_EPOCHS * 300 < ck.MAX_HEADER_BYTES * 3 // 4  # the flag leaves room


def test_a_header_over_the_limit_is_named_as_such(tmp_path):
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", 17 << 20) + b" " * (18 << 20))
    with pytest.raises(CheckpointError, match="header claims 17.0 MiB, over the 16 MiB"):
        ck.load_checkpoint(path)
