"""Command plumbing: fresh output folders, free text taken as typed."""

from __future__ import annotations

from evidence_ft.cli import free_text
from evidence_ft.run_folder import fresh_folder


def test_two_commands_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folders = [fresh_folder("outputs/eval") for _ in range(3)]
    assert len(set(folders)) == 3
    assert all(f.is_dir() and not any(f.iterdir()) for f in folders)
    assert all(f.parent.parent == tmp_path / "outputs" / "eval" for f in folders)


def test_free_text_keeps_quotes_brackets_and_interpolation_marks():
    text = 'text=I can\'t (really) = ${HOME}, "quoted" [x]'
    rest, texts = free_text(["--cfg", text, "input=a.csv"], ("text",))
    assert rest == ["--cfg", "input=a.csv"]
    assert texts == {"text": 'I can\'t (really) = ${HOME}, "quoted" [x]'}
