"""Line-based editing of existing keys in a TOML file, keeping its comments and layout.

Python's tomllib only reads, and CometBFT's config.toml is worth keeping readable (every key carries its
documentation), so values are replaced in place, one line each. A key is looked up only inside its own
[section]: `laddr` exists in both [rpc] and [p2p], and a pattern over the whole file could hit the wrong one.
After editing, the text is parsed again and compared with the intended result, so an edit that went wrong
raises instead of leaving a silently broken config.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Mapping

from .errors import LocalnetError

TomlValue = str | int | bool

# `[section]` or `[a.b]`, optionally followed by a comment. Arrays of tables (`[[x]]`) are not matched on
# purpose: CometBFT's config has none, and editing inside one would need more than a line-based approach.
_SECTION_RE = re.compile(r"^\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?$")
# A key starting in column 0; CometBFT uses both snake_case and kebab-case keys.
_KEY_RE = re.compile(r"^([A-Za-z0-9_\-]+)\s*=")


def format_toml_value(value: TomlValue) -> str:
    """The TOML literal of a string, integer or boolean."""
    # bool first: bool is a subclass of int.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string literal is a valid TOML basic string (same escapes, \uXXXX included).
        return json.dumps(value)
    raise LocalnetError(f"cannot write {type(value).__name__} {value!r} as a TOML value")


def set_toml_values(text: str, updates: Mapping[str, Mapping[str, TomlValue]]) -> str:
    """Text with each existing `[section] key` set to its new value; section "" is the top-level table."""
    remaining = {(section, key) for section, keys in updates.items() for key in keys}
    seen: set[tuple[str, str]] = set()
    section = ""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        header = _SECTION_RE.match(stripped)
        if header:
            section = header.group(1)
        else:
            match = _KEY_RE.match(line)
            if match and match.group(1) in updates.get(section, {}):
                key = match.group(1)
                if (section, key) in seen:
                    raise LocalnetError(f"key {key!r} appears twice in [{section}]")
                seen.add((section, key))
                remaining.discard((section, key))
                newline = "\n" if line.endswith("\n") else ""
                line = f"{key} = {format_toml_value(updates[section][key])}{newline}"
        out.append(line)
    if remaining:
        missing = ", ".join(f"[{s}] {k}" for s, k in sorted(remaining))
        raise LocalnetError(f"keys not found in the TOML file: {missing}")
    new_text = "".join(out)
    _verify_edit(text, new_text, updates)
    return new_text


def _verify_edit(old: str, new: str, updates: Mapping[str, Mapping[str, TomlValue]]) -> None:
    """Raise unless new parses to exactly old with the updates applied."""
    expected = copy.deepcopy(tomllib.loads(old))
    for section, keys in updates.items():
        table = expected
        if section:
            for part in section.split("."):
                table = table[part]
        table.update(keys)
    actual = tomllib.loads(new)
    if actual != expected:
        raise LocalnetError("line-based TOML edit changed more than the requested keys (multi-line value?)")
