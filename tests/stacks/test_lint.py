"""cfn-lint and checkov over the generated templates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from stacks.params import STACK_ORDER
from tests.stacks.support import walk

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv" / "checkov" / "bin" / "checkov"


@pytest.mark.parametrize("stack", STACK_ORDER)
def test_cfn_lint_has_no_errors_or_warnings(build_dir: Path, stack: str) -> None:
    text = (build_dir / f"{stack}.template.json").read_text(encoding="utf-8")
    matches = lint(text, config=ManualArgs(regions=["ap-southeast-1"], include_checks=["I"]))
    # Informational findings are fixed too; any rule silenced in Metadata must carry a justification.
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


def test_cfn_lint_suppressions_are_justified(templates: dict[str, dict]) -> None:
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            lint_meta = resource.get("Metadata", {}).get("cfn-lint")
            if lint_meta:
                ignored = lint_meta["config"]["ignore_checks"]
                reasons = lint_meta.get("justification", {})
                assert set(ignored) == set(reasons), f"{stack}.{logical_id}: unjustified cfn-lint ignore"


def test_cfn_lint_reports_a_broken_template() -> None:
    """The lint call really lints: a dangling Ref is an error."""
    broken = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Nope"}}}}}
    matches = lint(json.dumps(broken), config=ManualArgs(regions=["ap-southeast-1"]))
    assert any(m.rule.id.startswith("E") for m in matches)


@pytest.fixture(scope="module")
def checkov_report(build_dir: Path) -> dict:
    """One checkov run over the whole build directory (it is slow to start)."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov not installed at {CHECKOV}: run `make bootstrap`")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(build_dir),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout, result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.slow
def test_checkov_passes(checkov_report: dict) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 50  # it did scan all seven templates


@pytest.mark.slow
def test_checkov_skips_have_reasons_and_are_used(templates: dict[str, dict], checkov_report: dict) -> None:
    declared = set()
    for template in templates.values():
        for logical_id, resource in template["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 30, f"{logical_id}: skip {skip['id']} lacks a reason"
                declared.add((skip["id"], f"{resource['Type']}.{logical_id}"))
    skipped = {(c["check_id"], c["resource"]) for c in checkov_report["results"]["skipped_checks"]}
    # A skip checkov never applied is stale: it hides nothing and misleads readers.
    assert declared == skipped


def test_no_machine_paths_or_secrets_in_templates(templates: dict[str, dict]) -> None:
    for stack, template in templates.items():
        text = json.dumps(template)
        for forbidden in ("/work/", "/root/", 'DWH_PASSWORD"', "BEGIN PRIVATE KEY"):
            assert forbidden not in text, f"{stack} template contains {forbidden!r}"
        for value in walk(template):
            if isinstance(value, dict) and "NoEcho" in value:
                pytest.fail(f"{stack}: a NoEcho parameter means a secret passes through parameters")
