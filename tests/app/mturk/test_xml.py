from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mturk.xml import (
    ANSWERS_NS,
    EXTERNAL_QUESTION_NS,
    QuestionXMLError,
    build_answers,
    external_question_xml,
    parse_answers,
    parse_question,
)


def test_external_question_escapes_the_url_and_round_trips() -> None:
    url = "https://labels.example.com/task?item=42&batch=7&q=<x>"
    xml = external_question_xml(url, 600)
    assert "&amp;batch=7" in xml and "<x>" not in xml
    root = ET.fromstring(xml)
    assert root.tag == f"{{{EXTERNAL_QUESTION_NS}}}ExternalQuestion"
    parsed = parse_question(xml)
    assert (parsed.kind, parsed.external_url, parsed.frame_height) == ("ExternalQuestion", url, 600)


@pytest.mark.parametrize("height", [-1, 1.5, True])
def test_external_question_rejects_bad_frame_height(height: object) -> None:
    with pytest.raises(QuestionXMLError, match="FrameHeight"):
        external_question_xml("https://x.example/t", height)  # type: ignore[arg-type]


def test_https_required_unless_allowed() -> None:
    with pytest.raises(QuestionXMLError, match="https"):
        external_question_xml("http://127.0.0.1:8000/task")
    assert "http://127.0.0.1" in external_question_xml("http://127.0.0.1/t", require_https=False)
    with pytest.raises(QuestionXMLError):
        external_question_xml("javascript:alert(1)", require_https=False)


@pytest.mark.parametrize(
    "doc, needle",
    [
        (
            "<ExternalQuestion><ExternalURL>https://a/b</ExternalURL></ExternalQuestion>",
            "namespace",
        ),
        (f'<Other xmlns="{EXTERNAL_QUESTION_NS}"/>', "unknown question root"),
        ("<ExternalQuestion", "well-formed"),
        (
            f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}"><ExternalURL>https://a/b'
            "</ExternalURL></ExternalQuestion>",
            "FrameHeight",
        ),
    ],
)
def test_parse_question_rejects(doc: str, needle: str) -> None:
    with pytest.raises(QuestionXMLError, match=needle):
        parse_question(doc)


def test_answers_match_mturks_real_format() -> None:
    # The real Answer string from docs/MTURK.md §4, parsed by our reader.
    real = (
        '<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers xmlns="'
        + ANSWERS_NS
        + '"><Answer><QuestionIdentifier>label</QuestionIdentifier><FreeText>cat</FreeText>'
        "</Answer><Answer><QuestionIdentifier>notes</QuestionIdentifier><FreeText>"
        '{"box":[1,2,3,4]}</FreeText></Answer></QuestionFormAnswers>'
    )
    assert parse_answers(real).as_dict() == {"label": "cat", "notes": '{"box":[1,2,3,4]}'}
    built = build_answers({"label": "cat", "notes": '{"box":[1,2,3,4]}'})
    assert built == real


def test_build_answers_drops_reserved_fields_keeps_repeats_and_escapes_non_ascii() -> None:
    xml = build_answers(
        [("assignmentId", "A1"), ("q", "é & <b>"), ("q", "2"), ("hitId", "H"), ("workerId", "W")]
    )
    assert xml.isascii() and "&#233;" in xml
    answers = parse_answers(xml)
    assert answers.multi() == {"q": ["é & <b>", "2"]}
    with pytest.raises(QuestionXMLError, match="repeats"):
        answers.as_dict()


def test_parse_selection_answers_and_wrong_root() -> None:
    doc = (
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}"><Answer><QuestionIdentifier>q1'
        "</QuestionIdentifier><SelectionIdentifier>a</SelectionIdentifier><SelectionIdentifier>b"
        "</SelectionIdentifier></Answer></QuestionFormAnswers>"
    )
    (ans,) = parse_answers(doc).answers
    assert ans.selection_identifiers == ("a", "b") and ans.value == "a|b"
    with pytest.raises(QuestionXMLError, match="QuestionFormAnswers"):
        parse_answers(f'<AnswerKey xmlns="{ANSWERS_NS}"/>')


_xml_text = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)],
    )
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8).filter(str.strip).map(str.strip), _xml_text),
        max_size=5,
    )
)
def test_answers_round_trip(pairs: list[tuple[str, str]]) -> None:
    pairs = [
        (k, v) for k, v in pairs if k not in {"assignmentId", "hitId", "turkSubmitTo", "workerId"}
    ]
    pairs = [(k, v) for k, v in pairs if all(ord(c) >= 32 or c in "\t\n\r" for c in k)]
    pairs = [(k, v) for k, v in pairs if "\ufffe" not in k + v and "\uffff" not in k + v]
    parsed = parse_answers(build_answers(pairs))
    assert [(a.question_identifier, a.free_text) for a in parsed.answers] == pairs
