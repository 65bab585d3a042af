"""The Code Insights SECURITY report of an ecr-push with SCAN_FAIL_ON: counts per severity, the
threshold, one annotation per finding worst first (up to the API's 1000, 100 per request), sent to
the fake authentication proxy (insights.py) and checked by the secrets scanner. Scans come from the
emulator (test/emulator/ecr_scan.py), pushes go to the tests' registry as in test_ecr_scan.py."""

import pytest

from emulator.leaks import secrets_in_env
from insights import TEST_PROXY_VARIABLE, FakeInsightsProxy
from test_ecr_scan import CRITICAL, HIGH, LOW, ecr, push, repository  # noqa: F401 (ecr: the fixture)


@pytest.fixture
def proxy():
    with FakeInsightsProxy() as proxy:
        yield proxy


def security_report(proxy):
    [put] = [r for r in proxy.requests if r["method"] == "PUT"]
    assert "authorization" not in put["headers"]
    report_id = put["path"].rsplit("/", 1)[1]
    return report_id, put["body"], proxy.annotations.get(report_id, [])


def numbers(report):
    return {field["title"]: field["value"] for field in report["data"] if field["type"] == "NUMBER"}


def test_a_high_finding_leaves_a_failed_security_report_with_one_annotation_per_finding_worst_first(
        scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    name = repository(ecr)
    emulator.ecr_scan(in_progress_polls=1, findings=[LOW, HIGH, CRITICAL])
    result, top, _ = push(scenario, name, TAGS="v1", SCAN_FAIL_ON="HIGH", **{TEST_PROXY_VARIABLE: proxy.address})

    assert result.code == 1, result
    report_id, report, annotations = security_report(proxy)
    scenario.emulator.assert_no_secrets_in(proxy.text(), more=secrets_in_env(scenario.env()))
    assert report_id.startswith("aws-role-deploy-ecr-scan-us-east-1-team-scan-"), report_id
    assert report["report_type"] == "SECURITY" and report["result"] == "FAILED"
    assert report["title"] == f"ECR scan of {name}:v1"
    assert numbers(report) == {"Critical": 1, "High": 1, "Medium": 0, "Low": 1, "Informational": 0}
    assert "2 finding(s) at or above HIGH (SCAN_FAIL_ON)" in report["details"]
    assert top in report["details"]
    assert [a["title"] for a in annotations] == ["CVE-2024-0003", "CVE-2024-0001", "CVE-2024-0002"]
    assert [a["severity"] for a in annotations] == ["CRITICAL", "HIGH", "LOW"]
    # Basic scanning gives no fixed-in version (enhanced does: below).
    assert annotations[1]["summary"] == "CVE-2024-0001 (HIGH) in openssl 3.0.2"
    assert all(a["annotation_type"] == "VULNERABILITY" for a in annotations)
    assert f"Code Insights: report {report_id} (FAILED, 3 annotations)" in result.output
    assert result.final_line.startswith("✖")


def test_findings_below_the_threshold_pass_and_a_re_run_replaces_the_report(
        scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    name = repository(ecr)
    emulator.ecr_scan(findings=[HIGH, LOW])
    variables = {"SCAN_FAIL_ON": "CRITICAL", TEST_PROXY_VARIABLE: proxy.address}
    assert push(scenario, name, **variables)[0].code == 0
    first, report, annotations = security_report(proxy)
    assert report["result"] == "PASSED" and len(annotations) == 2

    proxy.requests.clear()
    emulator.ecr_scan(findings=[LOW])
    assert push(scenario, name, layout="again", **variables)[0].code == 0
    again, report, annotations = security_report(proxy)
    assert again == first and len(proxy.reports) == 1
    assert [a["title"] for a in annotations] == ["CVE-2024-0002"], "the re-run's report replaced the first"


def test_every_platform_of_an_index_is_annotated_with_its_platform(scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    import images

    name = repository(ecr)
    built = images.oci_layout(scenario.clone_dir / "multi", platforms=["amd64", "arm64"])
    emulator.ecr_scan(kind="enhanced", findings=[LOW], images={built[1][1]: {"findings": [CRITICAL]}})
    result, _, _ = push(scenario, name, layout="multi", built=built, SCAN_FAIL_ON="CRITICAL",
                        **{TEST_PROXY_VARIABLE: proxy.address})

    assert result.code == 1, result
    _, report, annotations = security_report(proxy)
    assert "enhanced (Amazon Inspector)" in report["details"]
    assert annotations[0]["summary"] == "CVE-2024-0003 (CRITICAL) in glibc 2.35 fixed in 2.35-0ubuntu3.6 (linux/arm64)"
    assert {a["summary"].rsplit(" ", 1)[1] for a in annotations} == {"(linux/amd64)", "(linux/arm64)"}


def test_an_image_ecr_cannot_scan_leaves_a_failed_report_without_annotations(
        scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    name = repository(ecr)
    emulator.ecr_scan(status="UNSUPPORTED_IMAGE")
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="HIGH", **{TEST_PROXY_VARIABLE: proxy.address})

    assert result.code == 1, result
    _, report, annotations = security_report(proxy)
    assert report["result"] == "FAILED"
    assert "UNSUPPORTED_IMAGE" in report["details"]
    assert "No scan result to judge" in report["details"]
    assert annotations == []


def test_more_findings_than_a_report_holds_are_sent_worst_first_up_to_1000(
        scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    name = repository(ecr)
    many = [{"name": f"CVE-2024-{n:05d}", "severity": "LOW", "package": "pkg", "version": "1"} for n in range(1040)]
    emulator.ecr_scan(findings=many + [CRITICAL])
    result, _, _ = push(scenario, name, SCAN_FAIL_ON="CRITICAL", **{TEST_PROXY_VARIABLE: proxy.address})

    assert result.code == 1, result
    report_id, report, annotations = security_report(proxy)
    posts = [r for r in proxy.requests if r["method"] == "POST"]
    assert len(posts) == 10 and all(len(r["body"]) == 100 for r in posts)
    assert len(annotations) == 1000 and annotations[0]["title"] == "CVE-2024-0003"
    assert numbers(report)["Low"] == 1040
    assert "1000 annotations; 41 more findings do not fit in a report" in result.output


def test_a_push_without_scan_fail_on_leaves_no_report(scenario, emulator, ecr, ecr_registry, proxy):  # noqa: F811
    name = repository(ecr)
    result, _, _ = push(scenario, name, **{TEST_PROXY_VARIABLE: proxy.address})
    assert result.code == 0, result
    assert proxy.requests == []
