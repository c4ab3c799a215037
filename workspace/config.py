"""The workspace config file (`harvest.json`) and the rule for building stage configs.

Every stage config is a frozen dataclass, built once by the CLI from
defaults < the workspace file's section for that stage < command-line flags,
and validated in its `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from workspace.errors import ConfigError
from workspace.names import check_distinct, normalize_class_name

CONFIG_NAME = "harvest.json"
KNOWN_ENGINES = ("bing", "duckduckgo", "naver", "google", "page")

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

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError("a workspace needs at least one class")
        check_distinct(c.name for c in self.classes)
        unknown = [e for e in self.engines if e not in KNOWN_ENGINES]
        if unknown:
            raise ConfigError(
                f"unknown engine {unknown[0]!r}; known: {', '.join(KNOWN_ENGINES)}"
            )
        validate_split(self.split)
        if not 16 <= self.image_size <= 4096:
            raise ConfigError(f"image_size must be between 16 and 4096, got {self.image_size}")

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
            **{name: dict(values) for name, values in self.stages.items()},
        }


TOP_LEVEL_KEYS = {"version", "classes", "engines", "image_size", "split", "seed"}


def validate_class_name(name: str) -> None:
    """Class names become folder names: portable, free of path tricks, stored in NFC form."""
    if normalize_class_name(name) != name:
        raise ConfigError(f"class name {name!r} is not in Unicode NFC form (normalise it first)")


def validate_split(split: tuple[float, ...]) -> None:
    text = ",".join(f"{x:g}" for x in split)
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
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict):
        raise ConfigError(f"{source}: expected an object with a 'classes' object")
    try:
        classes = tuple(
            ClassSpec(
                name=normalize_class_name(name),
                queries=tuple(spec.get("queries") or [normalize_class_name(name)]),
                expansions=tuple(spec.get("expansions") or ()),
                target=int(spec.get("target", 100)),
            )
            for name, spec in raw["classes"].items()
        )
        stages = {k: v for k, v in raw.items() if k not in TOP_LEVEL_KEYS and isinstance(v, dict)}
        return WorkspaceConfig(
            classes=classes,
            engines=tuple(raw.get("engines", ("bing",))),
            image_size=int(raw.get("image_size", 224)),
            split=tuple(float(x) for x in raw.get("split", (0.8, 0.1, 0.1))),  # type: ignore[arg-type]
            seed=int(raw.get("seed", 1337)),
            stages=stages,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed value ({exc})") from None


def save_config(config: WorkspaceConfig, path: Path) -> None:
    """Write atomically so a crash never leaves half a config file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(path)


def build_stage_config(cls: type[T], file_section: dict[str, Any], flags: dict[str, Any]) -> T:
    """defaults < file section < flags (flags whose value is None are "not given")."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(file_section) - names)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} for {cls.__name__}")
    values = {**file_section, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"invalid settings for {cls.__name__}: {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A stage config as JSON-able data, saved beside what it produced."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
