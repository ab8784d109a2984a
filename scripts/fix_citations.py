#!/usr/bin/env python3
"""Rewrite document citations in code to the repository's ``docs/`` folder; flag issue numbers.

Code must cite documents a reader of the repository can open (``docs/ALGORITHMS.md §1.5``),
never the reference copies outside it (``../shared/docs/X.md``) and never issue numbers.

Usage (from the repository root)::

    python scripts/fix_citations.py            # rewrite in place, then list what is left
    python scripts/fix_citations.py --check    # change nothing; exit 1 if anything would change
    python scripts/fix_citations.py app tests  # only these paths (default: app trainer
                                               # benchmarks tests)

What it does, to ``*.py`` files only (comments, docstrings and description strings are where
these citations live; nothing else matches the patterns):

1. ``../shared/docs/X.md`` and a bare ``X.md`` (or ``docs X.md``) -> ``docs/X.md`` for
   X in ALGORITHMS, MTURK, PROLIFIC, PAPER; ``fr-train-paper.md`` -> ``docs/PAPER.md``.
   STYLE.md has no copy in ``docs/`` and is left alone.
2. Known issue-number citations (the table ``KNOWN`` below, written for the code as it stood)
   -> the document section that states the behaviour, or nothing.
3. Generic issue citations: a parenthetical that is only an issue reference
   (``(issue 3 §7)``, ``(issue 5)``, ``(admin, issue 4 §9)``) is removed;
   ``(issue 5: p99 < 50 ms)`` keeps its text; ``(issue 3 §5; X)`` and ``(X; issue 6 item 2)``
   keep ``X``.

A changed line that grows past 100 characters (ruff's E501) is wrapped at a space when it is a
whole-line comment (the continuation gets the same ``#`` / ``#:`` prefix) or lies inside a
triple-quoted string (the continuation gets the line's indentation); code is never wrapped.

It is idempotent: a second run changes nothing. Afterwards it prints, as ``path:line: text``, every
remaining ``issue <n>`` mention and every changed line still over 100 characters, for a person to
reword.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from pathlib import Path

DEFAULT_PATHS = ("app", "trainer", "benchmarks", "tests")
LINE_LENGTH = 100
DOCS = ("ALGORITHMS", "MTURK", "PROLIFIC", "PAPER")
_NAMES = "|".join(DOCS)

#: Document citations: (pattern, replacement), applied in order.
DOC_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:\.\./)?shared/docs/fr-train-paper\.md"), "docs/PAPER.md"),
    (re.compile(rf"(?:\.\./)?shared/docs/({_NAMES})\.md"), r"docs/\1.md"),
    (re.compile(rf"\bdocs ({_NAMES})\.md"), r"docs/\1.md"),
    (re.compile(r"(?<![\w/.-])fr-train-paper\.md"), "docs/PAPER.md"),
    (re.compile(rf"(?<![\w/.-])({_NAMES})\.md"), r"docs/\1.md"),
]

#: Exact phrases as they stood in the code, each with the citation that replaces it.
KNOWN: list[tuple[str, str]] = [
    (" (issue 4 §9), shared by", ", shared by"),
    ("(admin, issue 4 §9)", "(admin)"),
    ("(issue 4 §2-3)", "(docs/MTURK.md §2-3)"),
    ("allowed (issue 4 §9).", "allowed (docs/MTURK.md §3)."),
    ("(issue 4 §4, §6)", "(docs/MTURK.md §4)"),
    (" (issue 4 §5): pull", ": pull"),
    ("(issue 4 §8)", "(docs/MTURK.md §1-§4)"),
    ("(issue 4 item 7)", "(docs/MTURK.md §6)"),
    ("endpoints (docs/MTURK.md §1)", "endpoints (docs/MTURK.md §5)"),
    ("(issue 4 item 1)", "(docs/MTURK.md §1, §5)"),
    ("(issue 4 §1)", "(docs/MTURK.md §5)"),
    (" (issue 4 review policy)", ""),
    ("(issue 3 §5; app.crowd.WorkerFilterRule)", "(app.crowd.WorkerFilterRule)"),
    ("(issue 3 §1; paper §4.4)", "(docs/PAPER.md §4.4)"),
    ("of issue 6 are computed here", "of docs/PAPER.md are computed here"),
    ("# Findings (issue 6 acceptance (a)-(d))", "# Findings (a)-(d) (docs/PAPER.md)"),
    ("Findings (a)-(d) of issue 6, each", "Findings (a)-(d) of docs/PAPER.md, each"),
    ("(issue 6; paper Section 4 and A.3)", "(paper Section 4 and A.3)"),
    ('possible"; issue 6 item 2)', 'possible")'),
    ("Acceptance (issue 5): FR-Train", "Target: FR-Train"),
    (' (issue 5: "the baselines, when they exist")', ""),
    ("Target (issue 3): ", "Target: "),
    ("(issue 4 acceptance: ", "(target: "),
    ("(issue 5: p99", "(target: p99"),
    ("(issue 6: reproduce-all time)", "(reproduce-all time)"),
    ("wires what issue 5 asks for", "wires what the job service needs"),
    ("of issue 6 on 2 cores", "on 2 cores"),
]

_ISSUE = r"issues? \d+(?:\s*(?:§\s*[\w.,\-–§ ]+|item \d+|acceptance))?"
#: Generic rules for issue citations, applied after KNOWN.
ISSUE_RULES: list[tuple[re.Pattern[str], str]] = [
    # "(issue 5: p99 < 50 ms)" -> "(p99 < 50 ms)"
    (re.compile(rf"\({_ISSUE}:\s*"), "("),
    # "(issue 3 §5; X)" -> "(X)"
    (re.compile(rf"\({_ISSUE};\s*"), "("),
    # "(X; issue 6 item 2)" -> "(X)"
    (re.compile(rf";\s*{_ISSUE}\)"), ")"),
    # " (issue 3 §7)" / " (admin, issue 4 §9)" -> ""
    (re.compile(rf" ?\((?:[\w ]+, )?{_ISSUE}\)"), ""),
]
_LEFT = re.compile(r"\bissues? #?\d+\b", re.IGNORECASE)


def rewrite(text: str) -> str:
    for pattern, repl in DOC_RULES:
        text = pattern.sub(repl, text)
    for old, new in KNOWN:
        text = text.replace(old, new)
    for pattern, repl in ISSUE_RULES:
        text = pattern.sub(repl, text)
    return text


def _wrappable(text: str) -> dict[int, str]:
    """Line number -> continuation prefix, for whole-line comments and lines inside
    triple-quoted strings (1-based line numbers)."""
    out: dict[int, str] = {}
    lines = text.splitlines()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            (r0, c0), (r1, _) = tok.start, tok.end
            if tok.type == tokenize.COMMENT and not lines[r0 - 1][:c0].strip():
                m = re.match(r"\s*#:?\s?", lines[r0 - 1])
                out[r0] = m.group() if m else "# "
            elif tok.type == tokenize.STRING and re.match(
                r"[rRbBuUfF]*(\"\"\"|\'\'\')", tok.string
            ):
                for r in range(r0, r1 + 1):
                    out.setdefault(r, re.match(r"\s*", lines[r - 1]).group())
    except (tokenize.TokenError, SyntaxError, IndexError):
        return {}
    return out


def wrap_long(new: str, old: str) -> str:
    """Wrap changed lines over LINE_LENGTH where that is safe (see the module docstring)."""
    old_lines = set(old.splitlines())
    prefixes = _wrappable(new)
    out: list[str] = []
    for i, line in enumerate(new.splitlines(keepends=True), 1):
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        prefix = prefixes.get(i)
        if prefix is None or len(body) <= LINE_LENGTH or body in old_lines:
            out.append(line)
            continue
        parts = []
        while len(body) > LINE_LENGTH:
            cut = body.rfind(" ", len(prefix) + 1, LINE_LENGTH + 1)
            if cut <= len(prefix):
                break
            parts.append(body[:cut].rstrip())
            body = prefix + body[cut + 1 :]
        parts.append(body)
        out.append("\n".join(parts) + end)
    return "".join(out)


def files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return [f for f in out if ".venv" not in f.parts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 on changes")
    args = ap.parse_args(argv)
    changed, notes = [], []
    for f in files(args.paths):
        old = f.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            new = wrap_long(new, old)
        if new != old:
            changed.append(f)
            if not args.check:
                f.write_text(new, encoding="utf-8")
            old_lines = set(old.splitlines())
            for i, line in enumerate(new.splitlines(), 1):
                if len(line) > LINE_LENGTH and line not in old_lines:
                    notes.append(f"{f}:{i}: over {LINE_LENGTH} characters: {line.strip()}")
        for i, line in enumerate(new.splitlines(), 1):
            if _LEFT.search(line):
                notes.append(f"{f}:{i}: issue number left: {line.strip()}")
    verb = "would change" if args.check else "changed"
    print(f"{verb} {len(changed)} file(s)")
    for f in changed:
        print(f"  {f}")
    for n in notes:
        print(n)
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
