"""The workspace config file (`harvest.json`) and the rule for building stage configs.

Every stage config is a frozen dataclass, built once by the CLI from
defaults < the workspace file's section for that stage < command-line flags,
and validated in its `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar

from workspace.errors import ConfigError, HarvestError
from workspace.imagecheck import DEFAULT_MAX_PIXELS
from workspace.names import check_distinct, normalize_class_name

CONFIG_NAME = "harvest.json"

T = TypeVar("T")


@dataclass(frozen=True)
class ClassSpec:
    """One class: its search queries, optional expansions (synonyms, translations) and target."""

    name: str
    queries: tuple[str, ...]
    expansions: tuple[str, ...] = ()
    target: int = 100

    def __post_init__(self) -> None:
        validate_class_name(self.name)
        if not self.queries:
            raise ConfigError(f"class {self.name!r} needs at least one query")
        if self.target < 1:
            raise ConfigError(f"class {self.name!r}: target must be >= 1, got {self.target}")


@dataclass(frozen=True)
class WorkspaceConfig:
    """The whole of `harvest.json`: classes and the per-stage sections."""

    classes: tuple[ClassSpec, ...]
    engines: tuple[str, ...] = ("bing",)
    image_size: int = 224
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 1337
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_pixels: int = DEFAULT_MAX_PIXELS   # one decompression-bomb limit: import, download and curate

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError("a workspace needs at least one class")
        check_distinct(c.name for c in self.classes)
        known = known_engines()
        unknown = [e for e in self.engines if e not in known]
        if unknown:
            raise ConfigError(
                f"unknown engine {unknown[0]!r}; known: {', '.join(known)}"
            )
        validate_split(self.split)
        if not 16 <= self.image_size <= 4096:
            raise ConfigError(f"image_size must be between 16 and 4096, got {self.image_size}")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be >= 1, got {self.max_pixels}")

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_spec(self, name: str) -> ClassSpec:
        for spec in self.classes:
            if spec.name == name:
                return spec
        raise ConfigError(f"unknown class {name!r}; this workspace has: {', '.join(self.class_names)}")

    def section(self, stage: str) -> dict[str, Any]:
        """The file's settings for one stage (e.g. "crawl", "curate", "train")."""
        return dict(self.stages.get(stage, {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "classes": {
                c.name: {"queries": list(c.queries), "expansions": list(c.expansions),
                         "target": c.target}
                for c in self.classes
            },
            "engines": list(self.engines),
            "image_size": self.image_size,
            "split": list(self.split),
            "seed": self.seed,
            **({"max_pixels": self.max_pixels} if self.max_pixels != DEFAULT_MAX_PIXELS else {}),
            **{name: dict(values) for name, values in self.stages.items()},
        }


TOP_LEVEL_KEYS = {"version", "classes", "engines", "image_size", "split", "seed", "max_pixels"}
CLASS_KEYS = {"queries", "expansions", "target"}
# The stage sections harvest.json may hold: the stage config they feed, and the fields that are
# not file settings (per-invocation choices, or nested objects built from flags).
STAGE_SECTIONS = {
    "crawl": ("crawler.crawl:CrawlConfig", {"base_url", "classes", "urls_file", "url_class", "label_source",
                                            "browser", "http"}),
    "curate": ("curation.pipeline:CurateConfig", {"resplit", "max_pixels"}),
    "train": ("training.train:TrainConfig", {"run_id", "round"}),
}
MOVED_KEYS = {"curate.max_pixels": "the top-level max_pixels (one limit for import and curate)"}


def validate_class_name(name: str) -> None:
    """Class names become folder names: portable, free of path tricks, stored in NFC form."""
    if normalize_class_name(name) != name:
        raise ConfigError(f"class name {name!r} is not in Unicode NFC form (normalise it first)")


def validate_split(split: tuple[float, ...]) -> None:
    text = ",".join(f"{x:g}" for x in split)
    if any(not math.isfinite(x) for x in split):
        raise ConfigError(f"split must be three finite ratios train,val,test, got {text}")
    if len(split) != 3 or any(x < 0 for x in split):
        raise ConfigError(f"split must be three non-negative ratios train,val,test, got {text}")
    if abs(sum(split) - 1.0) > 1e-6:
        raise ConfigError(f"split must sum to 1, got {text}")
    if split[0] <= 0:
        raise ConfigError(f"split needs a non-zero train ratio, got {text}")


def parse_split(text: str) -> tuple[float, float, float]:
    """Parse "0.8,0.1,0.1" as given on a command line."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"split must be three numbers like 0.8,0.1,0.1, got {text}") from None
    if len(values) != 3:
        raise ConfigError(f"split must be three numbers like 0.8,0.1,0.1, got {text}")
    validate_split(values)
    return values  # type: ignore[return-value]


def parse_class_list(text: str) -> list[str]:
    """Parse "daisy,roses,tulips" (or "데이지,장미") into NFC names; rejects empty and clashing names."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not n for n in parts):
        raise ConfigError(f"--classes must be a comma-separated list of names, got {text!r}")
    names = [normalize_class_name(name) for name in parts]
    if len(set(names)) != len(names):
        raise ConfigError(f"--classes has a repeated name: {text!r}")
    check_distinct(names)
    return names


def load_config(path: Path) -> WorkspaceConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    return config_from_json(raw, source=str(path))


def config_from_json(raw: Any, source: str = "config") -> WorkspaceConfig:
    """The file, checked strictly: every problem is one line naming its key path."""
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict):
        raise ConfigError(f"{source}: expected an object with a 'classes' object")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS - set(STAGE_SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; known: "
                          f"{', '.join(sorted(TOP_LEVEL_KEYS | set(STAGE_SECTIONS)))}")
    for name in STAGE_SECTIONS:
        if name in raw and not isinstance(raw[name], dict):
            raise ConfigError(f"{source}: {name} must be an object of settings, got {_describe(raw[name])}")
    try:
        classes = tuple(_class_spec(name, spec) for name, spec in raw["classes"].items())
        return WorkspaceConfig(
            classes=classes,
            engines=tuple(check_value(raw.get("engines", ["bing"]), tuple[str, ...], "engines")),
            image_size=check_value(raw.get("image_size", 224), int, "image_size"),
            split=check_value(raw.get("split", [0.8, 0.1, 0.1]), tuple[float, float, float], "split"),
            seed=check_value(raw.get("seed", 1337), int, "seed"),
            stages={k: dict(v) for k, v in raw.items() if k in STAGE_SECTIONS},
            max_pixels=check_value(raw.get("max_pixels", DEFAULT_MAX_PIXELS), int, "max_pixels"),
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _class_spec(name: Any, spec: Any) -> ClassSpec:
    path = f"classes.{name}"
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{path} must be an object (queries, expansions, target), got {_describe(spec)}")
    unknown = sorted(set(spec) - CLASS_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(sorted(CLASS_KEYS))}")
    try:
        nfc = normalize_class_name(name)
        queries = check_value(spec.get("queries") or [nfc], tuple[str, ...], f"{path}.queries")
        return ClassSpec(name=nfc, queries=queries,
                         expansions=check_value(spec.get("expansions") or [], tuple[str, ...], f"{path}.expansions"),
                         target=check_value(spec.get("target", 100), int, f"{path}.target"))
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(path) else f"{path}: {message}") from None


def _describe(value: Any) -> str:
    kind = {str: "a string", bool: "true/false", int: "a number", float: "a number", list: "a list",
            dict: "an object", NoneType: "null"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value, default=str)[:60]}" if value is not None else kind


def check_value(value: Any, hint: Any, path: str) -> Any:
    """`value` from the file as the type `hint` wants, strictly: no string for a list, no
    fraction for a whole number, no NaN or infinity, no number for true/false."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, UnionType):
        if value is None and NoneType in args:
            return None
        return check_value(value, next(a for a in args if a is not NoneType), path)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
            raise ConfigError(f"{path} must be a whole number, got {_describe(value)}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{path} must be a finite number, got {_describe(value)}")
        return float(value)
    if hint in (str, Path):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path} must be a non-empty string, got {_describe(value)}")
        return hint(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, e.g. {_example(args, path)}, got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_value(item, args[0], f"{path}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path} must be a list of {len(args)} items, e.g. {_example(args, path)}, "
                              f"got {_describe(value)}")
        return tuple(check_value(item, arg, f"{path}[{i}]") for i, (item, arg) in enumerate(zip(value, args)))
    return value


def _example(args: tuple, path: str) -> str:
    if args and args[0] is str:
        return '["bing", "duckduckgo"]' if path == "engines" else '["daisy flower", "oxeye daisy"]'
    return "[0.8, 0.1, 0.1]" if len(args) == 3 else "[1, 2]"


def save_config(config: WorkspaceConfig, path: Path) -> None:
    """Write atomically so a crash never leaves half a config file (and never NaN: not JSON)."""
    tmp = path.with_suffix(".json.tmp")
    try:
        text = json.dumps(config.to_json(), indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ConfigError(f"not saving {path}: {exc}") from None
    tmp.write_text(text + "\n", "utf-8")
    tmp.replace(path)


def known_engines() -> tuple[str, ...]:
    """The engine names, in the registry's order: crawler/engines/__init__.py is the one list
    (imported here on use, like the stage configs above, so the workspace layer loads alone)."""
    from crawler.engines import ENGINES

    return tuple(ENGINES)


def stage_config_class(section: str) -> type:
    target, _ = STAGE_SECTIONS[section]
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def check_section(section: str, values: dict[str, Any], cls: type | None = None) -> dict[str, Any]:
    """A stage section of harvest.json, checked against its stage config: known keys, strict types,
    and each value through the config's own validation; messages name `section.key`."""
    cls = cls or stage_config_class(section)
    _, not_settings = STAGE_SECTIONS.get(section, ("", set()))
    hints = typing.get_type_hints(cls)
    allowed = sorted(f.name for f in dataclasses.fields(cls) if f.name not in not_settings)
    checked = {}
    for key, value in values.items():
        path = f"{section}.{key}"
        if path in MOVED_KEYS:
            raise ConfigError(f"harvest.json: {path} is now {MOVED_KEYS[path]}")
        if key not in allowed:
            raise ConfigError(f"harvest.json: unknown key {path!r}; {section} settings: {', '.join(allowed)}")
        checked[key] = check_value(value, hints[key], path)
        try:
            cls(**{key: checked[key]})
        except HarvestError as exc:
            raise ConfigError(f"harvest.json: {path}: {exc}") from None
    return checked


def validate_workspace_config(ws: Any) -> WorkspaceConfig:
    """The whole file, stage sections included (for `status`, which runs no stage)."""
    config = ws.config()
    for section, values in config.stages.items():
        check_section(section, values)
    return config


def build_stage_config(cls: type[T], file_section: dict[str, Any], flags: dict[str, Any],
                       section: str | None = None, defaults: dict[str, Any] | None = None) -> T:
    """defaults < file section < flags (flags whose value is None are "not given"). `defaults`
    are workspace-wide values (already checked); the file section is checked strictly."""
    checked = check_section(section, file_section, cls) if section else dict(file_section)
    values = {**(defaults or {}), **checked, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"invalid settings for {cls.__name__}: {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A stage config as JSON-able data, saved beside what it produced."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
