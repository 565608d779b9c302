"""Compares a project's two pytest runs (JUnit XML files from --junitxml): one with aiofiles,
one with the drop-in. Prints one PASS or FAIL line with both runs' counts, then each test that
passed with aiofiles and did not pass with the drop-in, with the first line of its message.
Exits 1 if there is any such test; 2 (a SKIP line) if the run with aiofiles recorded none,
as nothing can be compared. Usage: compare.py LABEL REAL.xml DROPIN.xml"""

import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """{test id: (outcome, message)} with outcome passed, failed or skipped; {} if no file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    found = {}
    for case in root.iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message") or child.text or ""
                break
            if child.tag == "skipped":
                outcome, message = "skipped", child.get("message") or ""
        # A teardown error is a second entry for the same test: the worse outcome wins.
        if found.get(key, ("passed",))[0] != "failed":
            found[key] = (outcome, message)
    return found


def counts(found):
    tally = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome, _ in found.values():
        tally[outcome] += 1
    return "{passed} passed, {failed} failed, {skipped} skipped".format(**tally)


def main():
    label, real_path, dropin_path = sys.argv[1:4]
    real, dropin = outcomes(real_path), outcomes(dropin_path)
    if not real:
        print(f"SKIP {label}: the run with aiofiles recorded no tests")
        return 2
    lost = sorted(k for k, (o, _) in real.items() if o == "passed"
                  and dropin.get(k, ("missing",))[0] != "passed")
    verdict = "FAIL" if lost else "PASS"
    print(f"{verdict} {label}: aiofiles {counts(real)}; drop-in {counts(dropin)}")
    for key in lost:
        outcome, message = dropin.get(key, ("missing", "not run"))
        first = (message.strip().splitlines() or [""])[0][:160]
        print(f"  {outcome}: {key}: {first}")
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
