"""SCAN_FAIL_ON (issue 22): ecr-push waits for ECR's scan of what it pushed and fails on a finding
at or above the threshold. The binary against the emulator's scans (test/emulator/ecr_scan.py:
not there yet, in progress, basic and enhanced findings, FAILED, UNSUPPORTED_IMAGE, scan on push
off) and the real registry the ecr-push tests use; the tags stay pushed whatever the scan says."""

import uuid

import pytest

import images
from emulator.scenario import client_for

HIGH = {"name": "CVE-2024-0001", "severity": "HIGH", "package": "openssl", "version": "3.0.2",
        "fixed_in": "3.0.13"}
LOW = {"name": "CVE-2024-0002", "severity": "LOW", "package": "zlib", "version": "1.2.11"}
CRITICAL = {"name": "CVE-2024-0003", "severity": "CRITICAL", "package": "glibc", "version": "2.35",
            "fixed_in": "2.35-0ubuntu3.6"}


@pytest.fixture
def ecr(scenario, emulator):
    return client_for(emulator, "ecr", scenario.user(name=f"ecr-admin-{uuid.uuid4().hex[:6]}"))


def repository(ecr, scan_on_push=True):
    name = f"team/scan-{uuid.uuid4().hex[:8]}"
    ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": scan_on_push})
    return name


def push(scenario, name, layout="image", platforms=None, built=None, **variables):
    top, children = built or images.oci_layout(scenario.clone_dir / layout, platforms=platforms)
    variables.setdefault("WAIT_TIMEOUT", "60")
    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE=layout, ECR_REPOSITORY=name, timeout=120, **variables)
    return result, top, children


def scans(emulator):
    return [r.get("scan") for r in emulator.requests(service="ecr", action="DescribeImageScanFindings")]


def test_a_high_finding_stops_the_push_and_the_tags_stay(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    emulator.ecr_scan(not_found_polls=1, in_progress_polls=2, findings=[HIGH, LOW])
    result, top, _ = push(scenario, name, TAGS="v1 latest", SCAN_FAIL_ON="HIGH")
    assert result.code == 1, result
    assert scans(emulator) == ["not_found", "IN_PROGRESS", "IN_PROGRESS", "COMPLETE"]
    assert "CRITICAL 0, HIGH 1, MEDIUM 0, LOW 1, INFORMATIONAL 0" in result.output
    assert "HIGH CVE-2024-0001 openssl 3.0.2" in result.output and "LOW CVE-2024-0002 zlib 1.2.11" in result.output
    assert "1 finding(s) at or above SCAN_FAIL_ON (HIGH)" in result.output and "CVE-2024-0001" in result.output
    assert "stays pushed" in result.output
    for tag in ("v1", "latest"):
        assert ecr_registry.manifest(name, tag)[0] == top
    env = result.outputs_env
    assert env["AWS_ROLE_DEPLOY_SCAN_HIGH"] == "1" and env["AWS_ROLE_DEPLOY_SCAN_LOW"] == "1"
    assert env["AWS_ROLE_DEPLOY_SCAN_FAILING"] == "1" and env["AWS_ROLE_DEPLOY_DIGEST"] == top
    assert not emulator.requests(service="ecr", action="StartImageScan")  # the repository scans on push


def test_findings_below_the_threshold_pass(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    emulator.ecr_scan(in_progress_polls=1, findings=[HIGH, LOW])
    result, top, _ = push(scenario, name, SCAN_FAIL_ON="critical")
    assert result.code == 0, result
    assert "no finding at or above SCAN_FAIL_ON (CRITICAL)" in result.output
    outputs = result.outputs_json
    assert outputs["scan"] == {"critical": 0, "high": 1, "medium": 0, "low": 1, "informational": 0, "undefined": 0,
                               "total": 2, "fail_on": "CRITICAL", "failing": 0}
    assert outputs["digest"] == top


def test_a_clean_scan_passes_the_lowest_threshold(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    emulator.ecr_scan()
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="INFORMATIONAL")
    assert result.code == 0, result
    assert result.outputs_json["scan"]["total"] == 0


def test_every_platform_of_an_index_is_scanned_with_enhanced_findings(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    built = images.oci_layout(scenario.clone_dir / "probe", platforms=["amd64", "arm64"])
    children = built[1]
    emulator.ecr_scan(kind="enhanced", in_progress_polls=1, findings=[LOW],
                      images={children[1]: {"findings": [CRITICAL, HIGH]}})
    result, top, _ = push(scenario, name, layout="probe", built=built, SCAN_FAIL_ON="CRITICAL")
    assert result.code == 1, result
    scanned = {r["params"]["imageId"]["imageDigest"]
               for r in emulator.requests(service="ecr", action="DescribeImageScanFindings")}
    assert scanned == set(children) and top not in scanned
    assert "(linux/arm64) (enhanced)" in result.output
    assert "CRITICAL CVE-2024-0003 glibc 2.35 (fixed in 2.35-0ubuntu3.6)" in result.output
    assert "HIGH CVE-2024-0001 openssl 3.0.2 (fixed in 3.0.13)" in result.output
    assert "PENDING" in result.output
    scan = result.outputs_json["scan"]
    assert (scan["critical"], scan["high"], scan["low"], scan["failing"]) == (1, 1, 1, 1)


def test_without_scan_on_push_a_basic_scan_is_started(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr, scan_on_push=False)
    emulator.ecr_scan(on_push=False, in_progress_polls=1, findings=[LOW])
    result, top, _ = push(scenario, name, SCAN_FAIL_ON="HIGH")
    assert result.code == 0, result
    [started] = emulator.requests(service="ecr", action="StartImageScan")
    assert started["scan_started"] is True and started["params"]["imageId"] == {"imageDigest": top}
    assert "started a basic scan" in result.output
    assert scans(emulator)[-1] == "COMPLETE"


def test_a_scan_already_made_today_is_waited_for(scenario, emulator, ecr, ecr_registry):
    """The repository says no scan on push, but a registry rule scanned it: StartImageScan is
    LimitExceededException, and that scan's result is used."""
    name = repository(ecr, scan_on_push=False)
    emulator.ecr_scan(not_found_polls=1, findings=[LOW])
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="LOW")
    assert result.code == 1, result
    [started] = emulator.requests(service="ecr", action="StartImageScan")
    assert started["status"] == 400 and started["scan_started"] is False
    assert "scanned it already today" in result.output and "at or above SCAN_FAIL_ON (LOW)" in result.output


def test_enhanced_scanning_refuses_a_basic_scan_and_its_own_rules_scan(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr, scan_on_push=False)
    emulator.ecr_scan(kind="enhanced", start="disabled", not_found_polls=2, in_progress_polls=1)
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="HIGH")
    assert result.code == 0, result
    assert "refused to start a basic scan" in result.output and "ValidationException" in result.output
    assert scans(emulator)[-2:] == ["PENDING", "ACTIVE"]


def test_nothing_scans_the_image(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr, scan_on_push=False)
    emulator.ecr_scan(kind="enhanced", on_push=False, start="disabled")
    result, top, _ = push(scenario, name, SCAN_FAIL_ON="HIGH", WAIT_TIMEOUT="6")
    assert result.code == 1, result
    assert "Nothing scans" in result.output and "StartImageScan: ValidationException: This feature is disabled" \
        in result.output
    assert "stays pushed" in result.output and ecr_registry.manifest(name, "latest")[0] == top


@pytest.mark.parametrize("status,words", [
    ("FAILED", "Scan failed due to an internal error."),
    ("UNSUPPORTED_IMAGE", "The operating system and/or package manager are not supported."),
])
def test_a_failed_or_unsupported_scan_fails_with_ecr_s_reason(scenario, emulator, ecr, ecr_registry, status, words):
    name = repository(ecr)
    emulator.ecr_scan(in_progress_polls=1, status=status)
    result, top, _ = push(scenario, name, TAGS="v7", SCAN_FAIL_ON="CRITICAL")
    assert result.code == 1, result
    assert f"ended {status}: " in result.output and words in result.output
    assert "stays pushed" in result.output and ecr_registry.manifest(name, "v7")[0] == top
    assert result.outputs_env["AWS_ROLE_DEPLOY_DIGEST"] == top


def test_a_scan_that_does_not_finish_in_time(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    emulator.ecr_scan(in_progress_polls=1000)
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="HIGH", WAIT_TIMEOUT="5")
    assert result.code == 1, result
    assert "did not finish within WAIT_TIMEOUT (5 s): the scan was still IN_PROGRESS" in result.output
    assert "stays pushed" in result.output


def test_an_unknown_severity_is_refused_before_any_push(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    before = len(emulator.requests())
    offset = ecr_registry.log_offset()
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="SEVERE")
    assert result.code == 2, result
    assert "SCAN_FAIL_ON" in result.output and "CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL" in result.output
    assert [r for r in emulator.requests()[before:] if r["service"] == "ecr"] == []
    assert ecr_registry.requests_since(offset) == []


def test_untrusted_finding_text_prints_no_line_of_its_own(scenario, emulator, ecr, ecr_registry):
    name = repository(ecr)
    forged = {"name": "CVE-1\n✔ Pushed fine", "severity": "HIGH", "package": "pkg\r\x1b[2Kx", "version": "1"}
    emulator.ecr_scan(findings=[forged])
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="CRITICAL")
    assert result.code == 0, result
    assert "\n✔ Pushed fine" not in result.output and "\x1b" not in result.output
    assert "CVE-1\\n✔ Pushed fine" in result.output


def test_the_security_report_carries_the_findings_also_when_the_gate_fails(scenario, emulator, ecr, ecr_registry):
    """The scans the gate read reach the run's Code Insights SECURITY report (one annotation per
    finding), through the fake Pipelines proxy (insights.py), also when the push fails on them."""
    from insights import TEST_PROXY_VARIABLE, FakeInsightsProxy

    name = repository(ecr)
    emulator.ecr_scan(kind="enhanced", findings=[HIGH, LOW])
    with FakeInsightsProxy() as proxy:
        result, _, _ = push(scenario, name, SCAN_FAIL_ON="HIGH", **{TEST_PROXY_VARIABLE: proxy.address})
    assert result.code == 1, result
    [report] = [r for r in proxy.requests if r["method"] == "PUT"]
    assert report["body"]["report_type"] == "SECURITY" and report["body"]["result"] == "FAILED"
    annotations = [a for r in proxy.requests if r["method"] == "POST" for a in r["body"]]
    assert [a["summary"].split(" ")[0] for a in annotations] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert "fixed in 3.0.13" in annotations[0]["summary"]


def test_a_promoted_index_is_scanned_per_platform(scenario, emulator, ecr):
    """SOURCE_TAG names an index: each platform's image is scanned (read with BatchGetImage), the
    attestation manifest and the index itself are not."""
    from emulator.ecr_scenario import seed_index

    name = repository(ecr)
    index, children = seed_index(ecr, name, "rc", platforms=("linux/amd64", "linux/arm64"))
    emulator.ecr_scan(findings=[LOW], images={children["linux/arm64"]: {"findings": [CRITICAL]}})
    result = scenario.run(ACTION="ecr-push", SOURCE_TAG="rc", ECR_REPOSITORY=name, TAGS="prod",
                          SCAN_FAIL_ON="CRITICAL", timeout=120)
    assert result.code == 1, result
    scanned = [r["params"]["imageId"]["imageDigest"]
               for r in emulator.requests(service="ecr", action="DescribeImageScanFindings")]
    assert sorted(scanned) == sorted(children.values()) and index not in scanned
    assert f"@{children['linux/arm64']} (linux/arm64) (basic): CRITICAL 1" in result.output
    assert "CRITICAL CVE-2024-0003 glibc 2.35" in result.output
    assert result.outputs_json["scan"]["low"] == 1


def test_the_scan_wait_looks_at_its_budget_s_pace_and_ends_on_the_first_look_after_the_scan(
        scenario, emulator, ecr, ecr_registry):
    """At the real pace (no AWS_ROLE_DEPLOY_TEST_TIME_SCALE), on a scan on the emulator's clock: a
    look at once, the next 8 s on (the budget keeps room for a look that starts a scan), then one
    every 4 s (15 calls a minute), and none after the one that saw the scan complete. Detection
    delays are measured by bench/run, not asserted here."""
    name = repository(ecr)
    emulator.ecr_scan(timed={"complete_s": 10.0}, findings=[LOW])
    result, top, _ = push(scenario, name, SCAN_FAIL_ON="HIGH", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None)
    assert result.code == 0, result
    [scan] = [s for s in emulator.ecr_scans() if s["digest"] == top]
    looks = [r["time"] for r in emulator.requests(service="ecr", action="DescribeImageScanFindings")]
    assert scans(emulator)[-1] == "COMPLETE" and scans(emulator)[:-1] == ["IN_PROGRESS"] * (len(looks) - 1)
    assert [at for at in looks if at >= scan["completed_at"]] == looks[-1:], (looks, scan)
    gaps = [b - a for a, b in zip(looks, looks[1:])]
    assert gaps[0] >= 8 - 0.5 and all(gap >= 4 - 0.5 for gap in gaps[1:]), gaps
    # The budget over the wait: 15 calls a minute, the first look free.
    assert len(looks) <= 15 * (looks[-1] - looks[0]) / 60 + 1, looks
