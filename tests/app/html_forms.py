"""Reading our own HTML pages in tests, as a browser would: each form's action and inputs."""

from __future__ import annotations

import html
import re
from typing import Any

_TAG = re.compile(r"<(form|input|button)\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*"([^"]*)")?')


def parse_forms(page: str) -> list[dict[str, Any]]:
    """Each ``<form>``'s action and its ``<input>``/``<button>`` attributes, in page order.

    A small regex scanner (the pages are our own templates and the emulator's); about ten times
    faster than ``html.parser`` on a 30-question page, which matters for many simulated workers.
    """
    forms: list[dict[str, Any]] = []
    for match in _TAG.finditer(page):
        tag = match.group(1).lower()
        attrs = {k.lower(): html.unescape(v or "") for k, v in _ATTR.findall(match.group(2))}
        if tag == "form":
            forms.append({"action": attrs.get("action", ""), "inputs": []})
        elif forms:
            forms[-1]["inputs"].append(attrs | {"tag": tag})
    return forms
