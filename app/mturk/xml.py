"""Question and answer XML for MTurk (docs/MTURK.md §4).

* :func:`external_question_xml` builds the ``ExternalQuestion`` document a HIT is created with;
  :func:`parse_question` checks a question document's root element and namespace.
* :func:`build_answers` / :func:`parse_answers` write and read ``QuestionFormAnswers``, the
  ``Answer`` string ``ListAssignmentsForHIT`` returns. Answers from an ExternalQuestion form are
  ``FreeText``; a field posted several times becomes several ``<Answer>`` elements with the same
  ``QuestionIdentifier``, in posting order (MTurk's own encoding of repeats is undocumented).
  Characters XML 1.0 cannot represent (C0 controls other than tab/LF/CR) are dropped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

_SCHEMAS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
EXTERNAL_QUESTION_NS = f"{_SCHEMAS}/2006-07-14/ExternalQuestion.xsd"
HTML_QUESTION_NS = f"{_SCHEMAS}/2011-11-11/HTMLQuestion.xsd"
QUESTION_FORM_NS = f"{_SCHEMAS}/2017-11-06/QuestionForm.xsd"
QUESTION_FORM_LEGACY_NS = f"{_SCHEMAS}/2005-10-01/QuestionForm.xsd"
ANSWERS_NS = f"{_SCHEMAS}/2005-10-01/QuestionFormAnswers.xsd"

#: Accepted (root element, namespace) pairs for a HIT's ``Question``.
QUESTION_ROOTS: dict[str, tuple[str, ...]] = {
    "ExternalQuestion": (EXTERNAL_QUESTION_NS,),
    "HTMLQuestion": (HTML_QUESTION_NS,),
    "QuestionForm": (QUESTION_FORM_NS, QUESTION_FORM_LEGACY_NS),
}
MAX_QUESTION_BYTES = 65_535
#: Form fields MTurk reserves and never echoes as answers.
RESERVED_FIELDS = frozenset({"assignmentId", "hitId", "turkSubmitTo", "workerId"})


class QuestionXMLError(ValueError):
    """A question or answer document is malformed; the message says what is wrong."""


@dataclass(frozen=True)
class ParsedQuestion:
    kind: str  # ExternalQuestion | HTMLQuestion | QuestionForm
    external_url: str | None = None
    frame_height: int | None = None


def external_question_xml(url: str, frame_height: int = 0, *, require_https: bool = True) -> str:
    """Build an ExternalQuestion. ``frame_height=0`` lets MTurk size the frame to the window.

    ``&`` and other XML specials in the URL are escaped; MTurk requires HTTPS for real HITs,
    ``require_https=False`` allows ``http://`` for the local emulator.
    """
    _check_external_url(url, require_https=require_https)
    if not isinstance(frame_height, int) or isinstance(frame_height, bool) or frame_height < 0:
        raise QuestionXMLError(f"FrameHeight must be an integer >= 0, got {frame_height!r}")
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def _check_external_url(url: str, *, require_https: bool) -> None:
    parts = urlsplit(url)
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not parts.netloc:
        need = "an https:// URL" if require_https else "an http(s):// URL"
        raise QuestionXMLError(f"ExternalURL must be {need}, got {url!r}")


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _parse_root(text: str) -> ET.Element:
    if len(text.encode("utf-8")) > MAX_QUESTION_BYTES:
        raise QuestionXMLError(f"document exceeds {MAX_QUESTION_BYTES} bytes")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise QuestionXMLError(f"not well-formed XML: {exc}") from exc


def parse_question(text: str, *, require_https: bool = True) -> ParsedQuestion:
    """Check a HIT ``Question``: known root element in its schema namespace; for an
    ExternalQuestion also the URL and the required integer FrameHeight."""
    root = _parse_root(text)
    ns, name = _local(root.tag)
    if name not in QUESTION_ROOTS:
        raise QuestionXMLError(f"unknown question root element <{name}>")
    if ns not in QUESTION_ROOTS[name]:
        raise QuestionXMLError(
            f"<{name}> must be in namespace {QUESTION_ROOTS[name][0]}, got {ns!r}"
        )
    if name != "ExternalQuestion":
        return ParsedQuestion(kind=name)
    url_el = root.find(f"{{{ns}}}ExternalURL")
    height_el = root.find(f"{{{ns}}}FrameHeight")
    if url_el is None or not (url_el.text or "").strip():
        raise QuestionXMLError("ExternalQuestion needs a non-empty <ExternalURL>")
    if height_el is None:
        raise QuestionXMLError("ExternalQuestion needs <FrameHeight>")
    try:
        height = int((height_el.text or "").strip())
    except ValueError as exc:
        raise QuestionXMLError("<FrameHeight> must be an integer") from exc
    url = (url_el.text or "").strip()
    _check_external_url(url, require_https=require_https)
    return ParsedQuestion(kind=name, external_url=url, frame_height=height)


@dataclass(frozen=True)
class Answer:
    """One ``<Answer>``: FreeText, or SelectionIdentifiers (+ OtherSelectionText)."""

    question_identifier: str
    free_text: str | None = None
    selection_identifiers: tuple[str, ...] = ()
    other_selection_text: str | None = None

    @property
    def value(self) -> str:
        """FreeText, else the selections joined by ``|``."""
        if self.free_text is not None:
            return self.free_text
        return "|".join(self.selection_identifiers)


@dataclass(frozen=True)
class QuestionFormAnswers:
    answers: tuple[Answer, ...] = field(default_factory=tuple)

    def multi(self) -> dict[str, list[str]]:
        """Every value per QuestionIdentifier, in document order."""
        out: dict[str, list[str]] = {}
        for a in self.answers:
            out.setdefault(a.question_identifier, []).append(a.value)
        return out

    def as_dict(self) -> dict[str, str]:
        """One value per QuestionIdentifier; raises if an identifier repeats."""
        out: dict[str, str] = {}
        for a in self.answers:
            if a.question_identifier in out:
                raise QuestionXMLError(f"QuestionIdentifier {a.question_identifier!r} repeats")
            out[a.question_identifier] = a.value
        return out


AnswerFields = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]


def _pairs(fields: AnswerFields) -> list[tuple[str, str]]:
    if isinstance(fields, Mapping):
        pairs: list[tuple[str, str]] = []
        for k, v in fields.items():
            values = [v] if isinstance(v, str) else list(v)
            pairs.extend((k, str(x)) for x in values)
        return pairs
    return [(str(k), str(v)) for k, v in fields]


# Characters XML 1.0 cannot carry at all; a form post could contain them, so they are dropped.
_XML_ILLEGAL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])


def _ascii_text(s: str) -> str:
    # MTurk writes an ASCII declaration and numeric character references for the rest; a raw
    # CR would be normalised to LF by any XML parser, so it is written as a reference too.
    cleaned = "".join(c for c in s.translate(_XML_ILLEGAL) if not 0xD800 <= ord(c) <= 0xDFFF)
    text = escape(cleaned).replace("\r", "&#13;")
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def build_answers(fields: AnswerFields, *, drop_reserved: bool = True) -> str:
    """Build the ``Answer`` XML MTurk stores for an externalSubmit form post (FreeText)."""
    parts = [
        '<?xml version="1.0" encoding="ASCII"?>',
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">',
    ]
    for key, value in _pairs(fields):
        if drop_reserved and key in RESERVED_FIELDS:
            continue
        if not key:
            raise QuestionXMLError("an answer needs a non-empty QuestionIdentifier")
        parts.append(
            f"<Answer><QuestionIdentifier>{_ascii_text(key)}</QuestionIdentifier>"
            f"<FreeText>{_ascii_text(value)}</FreeText></Answer>"
        )
    parts.append("</QuestionFormAnswers>")
    return "".join(parts)


def parse_answers(text: str) -> QuestionFormAnswers:
    """Parse a ``QuestionFormAnswers`` document (FreeText and SelectionIdentifier answers)."""
    root = _parse_root(text)
    ns, name = _local(root.tag)
    if name != "QuestionFormAnswers" or ns != ANSWERS_NS:
        raise QuestionXMLError(f"expected <QuestionFormAnswers> in {ANSWERS_NS}, got <{name}>")
    q = f"{{{ns}}}"
    out: list[Answer] = []
    for el in root.findall(f"{q}Answer"):
        qid = (el.findtext(f"{q}QuestionIdentifier") or "").strip()
        if not qid:
            raise QuestionXMLError("<Answer> without <QuestionIdentifier>")
        free = el.find(f"{q}FreeText")
        out.append(
            Answer(
                question_identifier=qid,
                free_text=None if free is None else (free.text or ""),
                selection_identifiers=tuple(
                    (s.text or "").strip() for s in el.findall(f"{q}SelectionIdentifier")
                ),
                other_selection_text=el.findtext(f"{q}OtherSelectionText"),
            )
        )
    return QuestionFormAnswers(answers=tuple(out))
