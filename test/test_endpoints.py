"""Which AWS host each call goes to, per partition and endpoint flag.

The emulator cannot answer as `sts-fips.us-east-1.amazonaws.com` or `sts.eusc-de-east-1.amazonaws.eu`,
so these runs go without `AWS_ENDPOINT_URL`, through a CONNECT proxy that records the host the pipe
asked for and answers 502 (no real AWS here). That proves the host the pipe chooses; that AWS
answers there is outside what this machine can show (see the probe kit).

Hosts: the SDKs' endpoint rules (partition DNS suffixes: amazonaws.com, amazonaws.com.cn,
amazonaws.eu; dual-stack suffix api.aws), which the AWS FIPS page and the European Sovereign Cloud
documentation name the same way.
"""

import pytest

from emulator.scenario import client_for
from pipe import ACCOUNT
from registry import ConnectProxy
from test_ecr import digest_of_tag, seed_image


@pytest.fixture
def proxy():
    started = ConnectProxy()
    yield started
    started.close()


def run_through(scenario, proxy, **overrides):
    return scenario.run(
        AWS_ENDPOINT_URL=None,
        HTTPS_PROXY=proxy.url,
        AWS_MAX_ATTEMPTS="1",
        timeout=60,
        **overrides,
    )


@pytest.mark.parametrize(
    "region, partition, flags, host",
    [
        ("us-east-1", "aws", {}, "sts.us-east-1.amazonaws.com"),
        ("us-east-1", "aws", {"AWS_USE_FIPS_ENDPOINT": "true"}, "sts-fips.us-east-1.amazonaws.com"),
        ("us-east-1", "aws", {"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "sts.us-east-1.api.aws"),
        ("us-gov-west-1", "aws-us-gov", {"AWS_USE_FIPS_ENDPOINT": "true"}, "sts.us-gov-west-1.amazonaws.com"),
        ("cn-north-1", "aws-cn", {}, "sts.cn-north-1.amazonaws.com.cn"),
        ("eusc-de-east-1", "aws-eusc", {}, "sts.eusc-de-east-1.amazonaws.eu"),
    ],
)
def test_the_web_identity_exchange_goes_to_the_partitions_sts(scenario, proxy, region, partition, flags, host):
    role = f"arn:{partition}:iam::{ACCOUNT}:role/deploy"
    result = run_through(scenario, proxy, AWS_DEFAULT_REGION=region, AWS_OIDC_ROLE_ARN=role, **flags)

    # No AWS here: the exchange cannot succeed, and the pipe says it could not reach STS.
    assert result.code != 0, result
    assert [target for target, _ in proxy.tunnels][:1] == [f"{host}:443"], proxy.tunnels
    assert {target for target, _ in proxy.tunnels} == {f"{host}:443"}, proxy.tunnels


def test_fips_with_a_custom_endpoint_is_refused_before_any_call(scenario, emulator):
    result = scenario.run(AWS_USE_FIPS_ENDPOINT="true")

    assert result.code == 2, result
    assert "AWS_USE_FIPS_ENDPOINT: cannot be combined with AWS_ENDPOINT_URL" in result.output, result
    assert emulator.requests() == []


def test_ecr_endpoint_variable_reaches_ecr_only(scenario, emulator):
    """AWS_ENDPOINT_URL_ECR sends ECR's API calls to its host; with AWS_ENDPOINT_URL pointing
    nowhere, the promotion succeeds only if every ECR call went to AWS_ENDPOINT_URL_ECR."""
    ecr = client_for(emulator, "ecr", scenario.user(name="ecr-admin"))
    ecr.create_repository(repositoryName="team/web")
    seed_image(ecr, "team/web", "v1")
    result = scenario.run(
        ACTION="ecr-push",
        ECR_REPOSITORY="team/web",
        SOURCE_TAG="v1",
        TAGS="v2",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # the discard port: any call sent here fails
        AWS_ENDPOINT_URL_STS=emulator.base_url,
        AWS_ENDPOINT_URL_ECR=emulator.base_url,
        AWS_MAX_ATTEMPTS="1",
    )

    assert result.code == 0, result
    assert digest_of_tag(ecr, "team/web", "v2") == digest_of_tag(ecr, "team/web", "v1")
    assert emulator.requests(service="ecr", action="PutImage"), emulator.requests()
