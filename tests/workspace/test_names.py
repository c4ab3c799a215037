"""Class names in any script: accepted in NFC, path tricks refused, case/normalisation clashes named."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tests.conftest import make_jpeg
from workspace.config import load_config, parse_class_list
from workspace.errors import ConfigError, WorkspaceError
from workspace.importer import import_labelled
from workspace.names import normalize_class_name
from workspace.layout import init_workspace

NFD_CAFE = unicodedata.normalize("NFD", "café")


@pytest.mark.parametrize("name", ["데이지", "장미", "ひまわり", "向日葵", "café", "Crème brûlée", "Straße",
                                  "tulip_2", "wild-tulips", "v1.5", "नमस्ते", "Ωmega"])
def test_letters_and_digits_of_any_script_are_accepted(name: str) -> None:
    assert parse_class_list(name) == [name]


def test_names_are_normalised_to_nfc() -> None:
    assert NFD_CAFE != "café"
    assert parse_class_list(f"{NFD_CAFE},데이지") == ["café", "데이지"]


@pytest.mark.parametrize("name, reason", [
    ("a/b", "path separator"), ("a\\b", "path separator"), ("..", "starts with a dot"),
    (".hidden", "starts with a dot"), ("tab\there", "control"), ("bell\x07", "control"),
    ("rtl\u202eoverride", "invisible"), ("zero\u200bwidth", "invisible"), ("CON", "reserved"),
    ("nul", "reserved"), ("Com1", "reserved"), ("lpt9.txt", "reserved"), ("daisy ", "ends with"),
    ("daisy.", "ends with"), ("-daisy", "starts with"), ("a:b", "contains ':'"), ("x" * 65, "at most 64"),
    ("a*b", "contains '*'"),
])
def test_path_tricks_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_class_name(name)
    assert reason in str(caught.value)


@pytest.mark.parametrize("names", ["Daisy,daisy", f"café,{NFD_CAFE.upper()}", "STRASSE,straße", "ｄａｉｓｙ,daisy"])
def test_names_equal_under_case_or_normalisation_are_refused_naming_both(names: str) -> None:
    first, second = names.split(",")
    with pytest.raises(ConfigError) as caught:
        parse_class_list(names)
    message = str(caught.value)
    assert unicodedata.normalize("NFC", first) in message and unicodedata.normalize("NFC", second) in message


def test_a_config_file_with_clashing_or_decomposed_names(tmp_path: Path) -> None:
    path = tmp_path / "harvest.json"
    path.write_text('{"classes": {"Daisy": {}, "daisy": {}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="'Daisy' and 'daisy'"):
        load_config(path)
    path.write_text('{"classes": {"%s": {}}}' % NFD_CAFE, encoding="utf-8")
    config = load_config(path)
    assert config.class_names == ["café"] and config.classes[0].queries == ("café",)


def test_korean_class_defaults_its_query_to_its_name(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", parse_class_list("데이지,장미"), engines=("naver",)).workspace
    assert [spec.queries for spec in ws.config().classes] == [("데이지",), ("장미",)]
    assert "데이지" in (ws.root / "harvest.json").read_text(encoding="utf-8")  # not \\uXXXX escapes


def test_import_matches_decomposed_folder_names_and_refuses_clashing_ones(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", ["café"]).workspace
    make_jpeg(tmp_path / "src" / NFD_CAFE / "a.jpg", (200, 40, 40))
    summary = import_labelled(ws, tmp_path / "src")
    assert summary.new == 1
    with ws.catalog() as catalog:
        assert catalog.all("SELECT class FROM images")[0]["class"] == "café"
    make_jpeg(tmp_path / "src" / "café" / "b.jpg", (40, 200, 40))
    if len(list((tmp_path / "src").iterdir())) == 2:  # a filesystem that keeps both forms apart
        with pytest.raises(WorkspaceError, match="two folders for class 'café'"):
            import_labelled(ws, tmp_path / "src")
    make_jpeg(tmp_path / "src2" / "CAFÉ" / "c.jpg", (40, 40, 200))
    with pytest.raises(ConfigError, match="'café' and 'CAFÉ'"):
        import_labelled(ws, tmp_path / "src2", add_classes=True)
    assert load_config(ws.config_path).class_names == ["café"]
