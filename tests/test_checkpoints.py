"""checkpoints.py: a run folder's own files (config, manifest, metrics) read back safely."""

from __future__ import annotations

import json

import pytest

from evidence_ft.checkpoints import _local_checkpoint
from evidence_ft.errors import UserError


def run_folder(tmp_path, **files: str):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}", encoding="utf-8")
    for name, text in files.items():
        (tmp_path / name.replace("_json", ".json").replace("_yaml", ".yaml")).write_text(text)
    return tmp_path / "model"


def test_run_files_are_parsed(tmp_path):
    manifest = {"splits": {"train": ["a"], "validation": ["b"], "test": ["c"]}}
    model = run_folder(tmp_path, split_manifest_json=json.dumps(manifest), config_yaml="seed: 3\n")
    ckpt = _local_checkpoint(str(model))
    assert ckpt.run_files["manifest"] == manifest and ckpt.run_files["config"].seed == 3
    assert ckpt.run_files["metrics"] is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("split_manifest_json", '{"splits": {"train": ["a", "b'),  # cut off mid-write
        ("metrics_json", "[1, 2]"),
        ("config_yaml", "seed: [1, 2\n"),
    ],
)
def test_a_truncated_run_file_is_a_one_line_error(tmp_path, name, text):
    model = run_folder(tmp_path, **{name: text})
    with pytest.raises(UserError) as err:
        _local_checkpoint(str(model))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message
