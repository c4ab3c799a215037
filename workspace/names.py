"""Class names in any script, made safe to use as folder names on every filesystem.

A class name becomes a folder (`curated/train/<class>/`, `FOLDER/<class>/` on import) and, by
default, the search query. So it may hold letters and digits of any script (Hangul, kana and
kanji, accented Latin), normalised to NFC, plus space, '_', '-' and '.'; and it must not be
something a filesystem treats specially: path separators, control or invisible format
characters, a leading dot, a trailing dot or space (Windows drops them) or a Windows device
name (CON, NUL, COM1, ...). Two names that differ only by case or Unicode normalisation would
share one folder on macOS and Windows, so they are refused together.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from workspace.errors import ConfigError

MAX_LENGTH = 64
PUNCTUATION = " _-."
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
    | {"COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"}
)
RULE = "use letters or digits of any script, space, '_', '-', '.' (at most 64, starting with a letter or digit)"


def normalize_class_name(name: str) -> str:
    """The NFC form of a valid class name; a ConfigError says what is wrong with an invalid one."""
    text = unicodedata.normalize("NFC", name)
    problem = name_problem(text)
    if problem:
        raise ConfigError(f"invalid class name {name!r}: {problem}")
    return text


def name_problem(name: str) -> str | None:
    """Why `name` (already NFC) cannot be a class name, or None when it can."""
    if not name:
        return "it is empty"
    if len(name) > MAX_LENGTH:
        return f"it has {len(name)} characters, at most {MAX_LENGTH} are allowed"
    for char in name:
        if char in "/\\":
            return f"it contains the path separator {char!r}"
        category = unicodedata.category(char)
        if category[0] == "C":
            return f"it contains the control or invisible character U+{ord(char):04X}"
        if category[0] not in "LMN" and char not in PUNCTUATION:
            return f"it contains {char!r}; {RULE}"
    if name.startswith("."):
        return "it starts with a dot (a hidden folder)"
    if unicodedata.category(name[0])[0] not in "LN":
        return f"it starts with {name[0]!r}; {RULE}"
    if name.endswith((".", " ")):
        return "it ends with a dot or space, which Windows drops from folder names"
    if name.split(".")[0].rstrip().upper() in WINDOWS_RESERVED:
        return "it is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    return None


def folding_key(name: str) -> str:
    """Names with equal keys share one folder where the filesystem ignores case or normalisation."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", name).casefold())


def check_distinct(names: Iterable[str]) -> None:
    """Refuse repeated names and names that differ only by case or normalisation, naming both."""
    seen: dict[str, str] = {}
    for name in names:
        key = folding_key(name)
        if key in seen:
            first = seen[key]
            if first == name:
                raise ConfigError(f"class name {name!r} is repeated")
            raise ConfigError(f"class names {first!r} and {name!r} differ only by case or Unicode "
                              "normalisation; they would share one folder on macOS and Windows")
        seen[key] = name
