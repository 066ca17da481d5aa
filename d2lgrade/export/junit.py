"""JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters).

One ``<testsuite>`` per submission, named ``<student>: <assignment>``; one
``<testcase>`` per test, its ``classname`` ``<student>.<assignment>.<question>``
so that Jenkins, which groups by the dots of the classname, shows student,
assignment and question as package and class. ``failed`` becomes
``<failure>``, ``error`` and ``grader_error`` ``<error>``, ``skipped``
``<skipped>``. A student's CI log may be public to that student, so the
messages are the ones the feedback shows: hidden tests by outcome only.
A notebook that could not be graded at all is one ``<error>`` testcase, and
cells that stopped with an error go to the suite's ``<system-err>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from d2lgrade.export.shared import cell_problems, printable, shown_message
from d2lgrade.results import SubmissionResult, TestResult

#: JUnit element for each outcome other than ``passed``.
ELEMENTS = {"failed": "failure", "error": "error", "grader_error": "error", "skipped": "skipped"}
#: Characters XML 1.0 cannot hold at all, even escaped, that ``printable`` leaves.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_junit(results: Sequence[SubmissionResult], path: Path) -> None:
    tree = ET.ElementTree(junit_element(results))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def junit_element(results: Sequence[SubmissionResult]) -> ET.Element:
    suites = [_suite(result) for result in results]
    root = ET.Element("testsuites", name="d2lgrade")
    root.extend(suites)
    _set_counts(root, list(root.iter("testcase")))
    return root


def _suite(result: SubmissionResult) -> ET.Element:
    suite = ET.Element("testsuite", name=_text(f"{result.student}: {result.assignment}"))
    properties = ET.SubElement(suite, "properties")
    for name, value in (("student", result.student), ("assignment", result.assignment), ("seed", result.seed),
                        ("score", f"{result.score:g}"), ("max_score", f"{result.possible:g}")):
        ET.SubElement(properties, "property", name=name, value=_text(str(value)))
    classname = f"{result.student}.{result.assignment}"
    if result.error:
        case = ET.SubElement(suite, "testcase", classname=_text(classname), name="the notebook can be graded", time="0")
        ET.SubElement(case, "error", type="not_graded", message=_text(result.error)).text = _text(result.error)
    for question in result.questions:
        for test in question.tests:
            suite.append(_case(test, f"{classname}.{question.name}"))
    problems = cell_problems(result)
    if problems:
        ET.SubElement(suite, "system-err").text = _text("cells that stopped with an error:\n" + "\n".join(problems))
    _set_counts(suite, suite.findall("testcase"))
    return suite


def _case(test: TestResult, classname: str) -> ET.Element:
    case = ET.Element("testcase", classname=_text(classname), name=_text(test.name), time=f"{test.seconds:.3f}")
    element = ELEMENTS.get(test.outcome)
    if element:
        message = _text(shown_message(test))
        detail = ET.SubElement(case, element)
        if message:
            detail.set("message", message)
        if element != "skipped":
            detail.set("type", test.outcome)
            detail.text = message
    return case


def _set_counts(element: ET.Element, cases: list[ET.Element]) -> None:
    """tests, failures, errors, skipped and time of these testcases, as attributes of ``element``."""
    found = [child.tag for case in cases for child in case]
    element.set("tests", str(len(cases)))
    for key, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        element.set(key, str(found.count(tag)))
    element.set("time", f"{sum(float(case.get('time')) for case in cases):.3f}")


def _text(text: str) -> str:
    return NOT_XML.sub("\ufffd", printable(text))
