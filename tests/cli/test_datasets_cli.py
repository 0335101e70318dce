"""`tui-vae train` on the new datasets: the shape from the dataset, folders, one-line refusals."""

import json
import struct

from PIL import Image

from tests.conftest import run_cli


def _header(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length])["__metadata__"]


def _one_line_refusal(result, code, words):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) <= 6 and words in " ".join(result.stderr.split()), result.stderr


def test_a_folder_trains_with_the_shape_it_is_given_and_says_what_it_skipped(tmp_path):
    for name, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for k in range(6):
            Image.new("RGB", (20 + k, 24), colour).save(tmp_path / "pics" / name / f"{k}.png")
    (tmp_path / "pics" / "cats" / "torn.png").write_bytes(b"\x89PNG torn")
    out = tmp_path / "f.safetensors"
    result = run_cli("train", "--dataset", f"folder:{tmp_path / 'pics'}", "--model", "cvae",
                     "--arch", "conv", "--image-size", "28", "--channels", "1", "--epochs",
                     "1", "--hidden-dim", "16", "--latent-dim", "2", "--batch-size", "8",
                     "--out", str(out), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 of 13 files" in result.stderr
    model = json.loads(_header(out)["tui_vae"])["model"]
    assert model["dataset"] == f"folder:{tmp_path / 'pics'}"
    assert (model["channels"], model["image_size"], model["num_classes"]) == (1, 28, 2)
    listed = run_cli("models", str(tmp_path), cwd=tmp_path, env={"COLUMNS": "300"})
    assert listed.returncode == 0 and "unreadable" not in listed.stdout, listed.stdout


def test_a_wrong_shape_a_classless_cvae_and_an_empty_folder_are_refused_in_one_line(tmp_path):
    base = ["train", "--arch", "conv", "--epochs", "1", "--out", str(tmp_path / "x.safetensors")]
    _one_line_refusal(run_cli(*base, "--dataset", "shapes", "--channels", "1", cwd=tmp_path),
                      2, "Shapes images have 3 channels, not 1")
    _one_line_refusal(run_cli(*base, "--dataset", "celeba", "--model", "cvae", cwd=tmp_path),
                      2, "CelebA has no classes to condition on")
    (tmp_path / "empty").mkdir()
    _one_line_refusal(run_cli(*base, "--dataset", f"folder:{tmp_path / 'empty'}",
                              "--data-dir", str(tmp_path / "data"), cwd=tmp_path),
                      1, "holds no image files")


def test_sample_takes_any_class_of_the_model_and_refuses_others_as_a_bad_flag(tmp_path):
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.models import ModelConfig, build_model

    for k in range(12):  # a folder of 12 classes: more than the ten digits
        (tmp_path / "pics" / f"c{k:02d}").mkdir(parents=True)
    for name, dataset, classes in (("shapes", "shapes", 5),
                                   ("twelve", f"folder:{tmp_path / 'pics'}", 12)):
        config = ModelConfig(model="cvae", arch="mlp", latent_dim=2, hidden_dim=8,
                             dataset=dataset, channels=3, image_size=32, num_classes=classes)
        meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, [])
        save_checkpoint(tmp_path / f"{name}.safetensors", build_model(config, seed=0), meta)
    _one_line_refusal(run_cli("sample", "shapes.safetensors", "--digit", "5", "-n", "2",
                              cwd=tmp_path), 2, "has 5 classes, 0 to 4; not 5")
    result = run_cli("sample", "twelve.safetensors", "--digit", "11", "-n", "2", "--out",
                     "eleven.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
