"""Editing existing keys of a TOML file with `tomlkit`, keeping its comments and layout.

CometBFT's config.toml is worth keeping readable (every key carries its documentation), so the file is
round-tripped: only the named values change. A key is looked up only inside its own [section] (`laddr`
exists in both [rpc] and [p2p]) and must already exist, so a typo or a CometBFT release that renamed a key
raises instead of silently adding a key CometBFT would ignore.
"""

from __future__ import annotations

from collections.abc import Mapping

import tomlkit
import tomlkit.exceptions

from .errors import LocalnetError

TomlValue = str | int | bool


def set_toml_values(text: str, updates: Mapping[str, Mapping[str, TomlValue]]) -> str:
    """Text with each existing `[section] key` set to its new value; section "" is the top-level table."""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise LocalnetError(f"cannot parse the TOML file: {exc}") from None
    missing = []
    for section, keys in updates.items():
        table = doc
        for part in section.split(".") if section else ():
            table = table.get(part) if isinstance(table, Mapping) else None
        for key, value in keys.items():
            if not isinstance(value, (str, int, bool)):
                raise LocalnetError(f"cannot write {type(value).__name__} {value!r} as a TOML value")
            if not isinstance(table, Mapping) or key not in table:
                missing.append(f"[{section}] {key}")
                continue
            table[key] = value
    if missing:
        raise LocalnetError(f"keys not found in the TOML file: {', '.join(sorted(missing))}")
    return tomlkit.dumps(doc)
