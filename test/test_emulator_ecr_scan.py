"""Self-tests of the emulator's image scans (test/emulator/ecr_scan.py), driven with boto3: a scan
not there yet right after a push, in progress for N polls, complete with findings in the basic
and the enhanced shape (paged), FAILED and UNSUPPORTED_IMAGE, scan on push off (StartImageScan
once per image, LimitExceededException after; refused under enhanced scanning), and the request
log; without a scenario, moto's own scans."""

import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.ecr_scenario import seed_index
from emulator.scenario import client_for

ACCOUNT = "111111111111"
HIGH = {"name": "CVE-2024-0001", "severity": "HIGH", "package": "openssl", "version": "3.0.2",
        "fixed_in": "3.0.13"}
LOW = {"name": "CVE-2024-0002", "severity": "LOW", "package": "zlib", "version": "1.2.11"}


@pytest.fixture
def ecr(emulator):
    return client_for(emulator, "ecr", emulator.create_user(ACCOUNT, f"scan-{uuid.uuid4().hex[:6]}"), retries=1)


@pytest.fixture
def image(ecr):
    """(repository, {platform: digest}) of a two-platform index."""
    name = f"scan-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=name)
    _, children = seed_index(ecr, name, "v1", platforms=("linux/amd64", "linux/arm64"))
    return name, children


def describe(ecr, name, digest, **kwargs):
    return ecr.describe_image_scan_findings(repositoryName=name, imageId={"imageDigest": digest}, **kwargs)


def code_of(call):
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


def test_a_scan_not_there_yet_then_in_progress_then_complete(ecr, emulator, image):
    name, children = image
    digest = children["linux/amd64"]
    emulator.ecr_scan(not_found_polls=1, in_progress_polls=2, findings=[HIGH, LOW])
    assert code_of(lambda: describe(ecr, name, digest)) == "ScanNotFoundException"
    for _ in range(2):
        assert describe(ecr, name, digest)["imageScanStatus"]["status"] == "IN_PROGRESS"
    done = describe(ecr, name, digest)
    assert done["imageScanStatus"] == {"status": "COMPLETE", "description": "The scan was completed successfully."}
    findings = done["imageScanFindings"]
    assert findings["findingSeverityCounts"] == {"HIGH": 1, "LOW": 1}
    high = next(f for f in findings["findings"] if f["name"] == "CVE-2024-0001")
    assert {"key": "package_name", "value": "openssl"} in high["attributes"]
    assert {"key": "package_version", "value": "3.0.2"} in high["attributes"]
    records = emulator.requests(service="ecr", action="DescribeImageScanFindings")
    assert [r["scan"] for r in records] == ["not_found", "IN_PROGRESS", "IN_PROGRESS", "COMPLETE"]


def test_enhanced_findings_have_their_own_shape_and_pages(ecr, emulator, image):
    name, children = image
    many = [{"name": f"CVE-2024-{n:04}", "severity": "MEDIUM", "package": "libx"} for n in range(150)]
    emulator.ecr_scan(kind="enhanced", in_progress_polls=1, findings=[HIGH, {**LOW, "severity": "UNDEFINED"}] + many)
    digest = children["linux/arm64"]
    assert describe(ecr, name, digest)["imageScanStatus"]["status"] == "PENDING"
    first = describe(ecr, name, digest)
    assert first["imageScanStatus"] == {"status": "ACTIVE", "description": "Continuous scan is selected for image."}
    assert first["imageScanFindings"]["findingSeverityCounts"] == {"HIGH": 1, "UNTRIAGED": 1, "MEDIUM": 150}
    page = first["imageScanFindings"]["enhancedFindings"]
    assert len(page) == 100 and "findings" not in first["imageScanFindings"]
    details = page[0]["packageVulnerabilityDetails"]
    assert details["vulnerabilityId"] == "CVE-2024-0001" and page[0]["severity"] == "HIGH"
    assert details["vulnerablePackages"][0]["fixedInVersion"] == "3.0.13"
    assert page[1]["severity"] == "UNTRIAGED"
    assert page[1]["packageVulnerabilityDetails"]["vulnerablePackages"][0]["fixedInVersion"] == "NotAvailable"
    rest = describe(ecr, name, digest, nextToken=first["nextToken"])
    assert len(rest["imageScanFindings"]["enhancedFindings"]) == 52 and "nextToken" not in rest


@pytest.mark.parametrize("status", ["FAILED", "UNSUPPORTED_IMAGE"])
def test_failed_and_unsupported_scans(ecr, emulator, image, status):
    name, children = image
    emulator.ecr_scan(status=status)
    answer = describe(ecr, name, children["linux/amd64"])
    assert answer["imageScanStatus"]["status"] == status and answer["imageScanStatus"]["description"]
    assert "imageScanFindings" not in answer


def test_per_image_overrides(ecr, emulator, image):
    name, children = image
    emulator.ecr_scan(findings=[LOW], images={children["linux/arm64"]: {"findings": [HIGH]}})
    assert describe(ecr, name, children["linux/amd64"])["imageScanFindings"]["findingSeverityCounts"] == {"LOW": 1}
    assert describe(ecr, name, children["linux/arm64"])["imageScanFindings"]["findingSeverityCounts"] == {"HIGH": 1}


def test_without_scan_on_push_start_image_scan_once(ecr, emulator, image):
    name, children = image
    digest = children["linux/amd64"]
    emulator.ecr_scan(on_push=False, findings=[HIGH])
    for _ in range(3):
        assert code_of(lambda: describe(ecr, name, digest)) == "ScanNotFoundException"
    started = ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    assert started["imageScanStatus"]["status"] == "IN_PROGRESS"
    assert describe(ecr, name, digest)["imageScanStatus"]["status"] == "COMPLETE"
    again = lambda: ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})  # noqa: E731
    assert code_of(again) == "LimitExceededException"
    assert [r.get("scan_started") for r in emulator.requests(service="ecr", action="StartImageScan")] == [True, False]


def test_start_image_scan_is_refused_after_a_scan_on_push_and_under_enhanced_scanning(ecr, emulator, image):
    name, children = image
    start = lambda: ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": children["linux/amd64"]})  # noqa: E731
    emulator.ecr_scan()
    assert code_of(start) == "LimitExceededException"
    emulator.ecr_scan(kind="enhanced", on_push=False, start="disabled")
    assert code_of(start) == "ValidationException"


def test_unknown_images_and_repositories(ecr, emulator, image):
    name, _ = image
    emulator.ecr_scan()
    assert code_of(lambda: describe(ecr, name, "sha256:" + "9" * 64)) == "ImageNotFoundException"
    assert code_of(lambda: describe(ecr, "nowhere", "sha256:" + "9" * 64)) == "RepositoryNotFoundException"


def test_without_a_scenario_moto_answers(ecr, emulator, image):
    name, children = image
    digest = children["linux/amd64"]
    assert code_of(lambda: describe(ecr, name, digest)) == "ScanNotFoundException"
    ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    assert describe(ecr, name, digest)["imageScanStatus"]["status"] == "COMPLETE"
    emulator.ecr_scan(status="FAILED")
    emulator.clear_ecr_scan()
    assert describe(ecr, name, digest)["imageScanStatus"]["status"] == "COMPLETE"


def test_bad_scenarios_are_refused(emulator):
    for bad in ({"kind": "deep"}, {"status": "DONE"}, {"findings": [{"name": "x", "severity": "BAD"}]},
                {"in_progress_polls": -1}, {"colour": "red"}):
        with pytest.raises(Exception):
            emulator.ecr_scan(**bad)


def _until(check, limit=10.0):
    """Look every 0.05 s until `check()` returns something, within `limit` seconds: the answers seen."""
    import time

    seen, ends = [], time.time() + limit
    while time.time() < ends:
        answer = check()
        seen.append(answer)
        if answer in ("COMPLETE", "ACTIVE"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no final status within {limit} s: {seen[-5:]}")


def _status(ecr, name, digest):
    try:
        return describe(ecr, name, digest)["imageScanStatus"]["status"]
    except ClientError as refused:
        return refused.response["Error"]["Code"]


def test_a_timed_scan_moves_with_the_clock_and_keeps_when_it_completed(ecr, emulator, image):
    """Not there until found_s after the first call naming the image, in progress until complete_s,
    then COMPLETE with imageScanCompletedAt at that moment; GET /_layer/ecr/scans has the moments."""
    name, children = image
    digest = children["linux/amd64"]
    emulator.ecr_scan(timed={"found_s": 0.3, "complete_s": 1.0}, findings=[HIGH])
    seen = _until(lambda: _status(ecr, name, digest))
    # In this order, each for a stretch of the clock, whatever the machine's speed.
    phases = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert phases == ["ScanNotFoundException", "IN_PROGRESS", "COMPLETE"], seen
    [scan] = [s for s in emulator.ecr_scans() if s["digest"] == digest]
    assert scan["completed_at"] == pytest.approx(scan["started_at"] + 1.0)
    assert scan["first_seen_at"] >= scan["completed_at"]
    done = describe(ecr, name, digest)["imageScanFindings"]
    assert done["imageScanCompletedAt"].timestamp() == pytest.approx(scan["completed_at"], abs=0.001)
    # The clock goes by when each look came in, as the request log has it: the scan started with
    # the first, and the looks that came in before the completion saw it in progress.
    records = emulator.requests(service="ecr", action="DescribeImageScanFindings")
    assert records[0]["time"] == scan["started_at"]
    first_complete = next(r for r in records if r["scan"] == "COMPLETE")
    assert first_complete["time"] == scan["first_seen_at"] >= scan["completed_at"]
    assert all(r["time"] < scan["completed_at"] for r in records if r["scan"] != "COMPLETE")


def test_a_timed_scan_without_scan_on_push_starts_with_start_image_scan(ecr, emulator, image):
    name, children = image
    digest = children["linux/arm64"]
    emulator.ecr_scan(kind="enhanced", on_push=False, timed={"complete_s": 0.5},
                      images={children["linux/amd64"]: {"timed": {"complete_s": 60}}})
    assert code_of(lambda: describe(ecr, name, digest)) == "ScanNotFoundException"
    assert [s["started_at"] for s in emulator.ecr_scans() if s["digest"] == digest] == [None]
    ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    seen = _until(lambda: _status(ecr, name, digest))
    assert seen[0] == "PENDING" and seen[-1] == "ACTIVE", seen
    # The other platform runs on its own clock: a minute.
    other = children["linux/amd64"]
    ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": other})
    assert describe(ecr, name, other)["imageScanStatus"]["status"] == "PENDING"
    scans = {s["digest"]: s for s in emulator.ecr_scans()}
    assert scans[other]["completed_at"] is None and scans[other]["first_seen_at"] is None
    assert scans[digest]["completed_at"] == pytest.approx(scans[digest]["started_at"] + 0.5)


@pytest.mark.parametrize("scenario,error", [
    ({"timed": {"complete_s": 0}}, "0 <= found_s < complete_s"),
    ({"timed": {"found_s": 2, "complete_s": 1}}, "0 <= found_s < complete_s"),
    ({"timed": {"complete_s": "5"}}, "in seconds"),
    ({"timed": {"complete_s": 5, "done_s": 1}}, "timed must be an object"),
    ({"timed": {"complete_s": 5}, "in_progress_polls": 2}, "not per call"),
    ({"images": {"sha256:1": {"timed": [5]}}}, "timed must be an object"),
])
def test_timed_scans_are_checked(emulator, scenario, error):
    import requests

    done = requests.post(f"{emulator.base_url}/_layer/ecr/scan", json=scenario)
    assert done.status_code == 400 and error in done.text, done.text
