"""The Lambda half of the corpus (issue 19): real `FUNCTION_CONFIGURATION` files as users have
them — what `aws lambda get-function-configuration`, `get-function`, `create-function`,
`update-function-configuration` and `list-functions` print, zip and container-image functions —
copied from public sources (test/corpus/lambda/SOURCES.md says where from, and every edit).

Each file is deployed by the binary to a function of its name in the emulator, and what arrives
at UpdateFunctionConfiguration is compared with the expectation written below, by hand from the
file (not from the pipe's output): every field UpdateFunctionConfiguration takes, unchanged,
layer objects as their ARNs, `ImageConfigResponse` as `ImageConfig`, and nothing else (the
emulator records members its model lacks as `unknown_members`; none may arrive). Then the
function reads back what was sent."""

import json
from pathlib import Path

import pytest

from emulator.lambda_scenario import lambda_fixture, make_zip

CORPUS = Path(__file__).parent / "corpus" / "lambda"

NODE_ROLE = "arn:aws:iam::123456789012:role/service-role/helloWorldPython-role-uy3l9qyq"
BOTOCORE_ENVIRONMENT = {"Variables": {"BUCKET": "my-bucket-1xpuxmplzrlbh", "PREFIX": "inbound"}}
BOTOCORE_KMS = "arn:aws:kms:us-west-2:123456789012:key/b0844d6c-xmpl-4463-97a4-d49f50839966"
NO_VPC = {"SubnetIds": [], "SecurityGroupIds": []}

# file -> (function, package type, layers the account must have, the UpdateFunctionConfiguration
# body expected (FunctionName and RevisionId aside), and what the notes must name).
EXPECTED = {
    "cli-get-function.json": (
        "my-function", "zip", [],
        {"TracingConfig": {"Mode": "PassThrough"}, "VpcConfig": NO_VPC, "MemorySize": 128,
         "Handler": "index.handler", "Role": NODE_ROLE, "Timeout": 3, "Runtime": "nodejs22.x", "Description": ""},
        ["get-function", "Code, Concurrency are not applied", "CodeSha256", "VpcConfig.VpcId", "RevisionId"],
    ),
    "cli-create-function.json": (
        "my-function", "zip", [],
        {"TracingConfig": {"Mode": "PassThrough"}, "MemorySize": 128,
         "Role": "arn:aws:iam::123456789012:role/service-role/MyTestFunction-role-zgur6bf4", "Timeout": 3,
         "Handler": "my-function.handler", "Runtime": "nodejs10.x", "Description": ""},
        ["CodeSha256", "CodeSize", "FunctionArn", "LastModified", "RevisionId", "Version"],
    ),
    "cli-update-function-configuration.json": (
        "my-function", "zip", [],
        {"MemorySize": 256, "Role": "arn:aws:iam::123456789012:role/service-role/my-function-role-uy3l9qyq",
         "Timeout": 3, "Runtime": "nodejs14.x", "TracingConfig": {"Mode": "PassThrough"}, "Description": "",
         "VpcConfig": NO_VPC, "Handler": "index.handler"},
        ["VpcConfig.VpcId", "LastModified"],
    ),
    "cli-list-functions-layers.json": (
        "my-python-function", "zip", [("AWSLambda-Python37-SciPy1x", 2), ("pythonLayer", 1)],
        {"Layers": ["arn:aws:lambda:us-west-2:420165488524:layer:AWSLambda-Python37-SciPy1x:2",
                    "arn:aws:lambda:us-west-2:123456789012:layer:pythonLayer:1"],
         "TracingConfig": {"Mode": "PassThrough"}, "VpcConfig": NO_VPC, "MemorySize": 128,
         "Handler": "lambda_function.lambda_handler",
         "Role": "arn:aws:iam::123456789012:role/service-role/my-python-function-role-z5g7dr6n", "Timeout": 3,
         "Runtime": "python3.11", "Description": ""},
        ["Layers[].CodeSize", "VpcConfig.VpcId"],
    ),
    "botocore-get-function-configuration.json": (
        "my-function", "zip", [],
        {"Description": "Process image objects from Amazon S3.", "Environment": BOTOCORE_ENVIRONMENT,
         "Handler": "index.handler", "KMSKeyArn": BOTOCORE_KMS, "MemorySize": 256,
         "Role": "arn:aws:iam::123456789012:role/lambda-role", "Runtime": "nodejs12.x", "Timeout": 15,
         "TracingConfig": {"Mode": "Active"}},
        ["LastUpdateStatus", "State", "Version"],
    ),
    "botocore-create-function.json": (
        "my-function", "zip", [],
        {"Description": "Process image objects from Amazon S3.", "Environment": BOTOCORE_ENVIRONMENT,
         "Handler": "index.handler", "KMSKeyArn": BOTOCORE_KMS, "MemorySize": 256,
         "Role": "arn:aws:iam::123456789012:role/lambda-role", "Runtime": "nodejs12.x", "Timeout": 15,
         "TracingConfig": {"Mode": "Active"}},
        ["Version"],
    ),
    "botocore-get-function.json": (
        "my-function", "zip", [],
        {"Description": "Process image objects from Amazon S3.", "Environment": BOTOCORE_ENVIRONMENT,
         "Handler": "index.handler", "KMSKeyArn": BOTOCORE_KMS, "MemorySize": 256,
         "Role": "arn:aws:iam::123456789012:role/lambda-role", "Runtime": "nodejs12.x", "Timeout": 15,
         "TracingConfig": {"Mode": "Active"}},
        ["get-function", "Code, Tags are not applied"],
    ),
    "image-get-function.json": (
        "team-spend-action", "image", [],
        {"Role": "arn:aws:iam::123456789012:role/PlaygroundGenericRoleForServices", "Description": "",
         "Timeout": 3, "MemorySize": 128, "TracingConfig": {"Mode": "PassThrough"},
         "EphemeralStorage": {"Size": 512}, "SnapStart": {"ApplyOn": "None"},
         "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/team-spend-action"}},
        ["get-function", "Code, Tags are not applied", "ImageConfigResponse", "PackageType", "Architectures",
         "SnapStart.OptimizationStatus"],
    ),
    "personalweb-get-function.json": (
        "moroyoqui_api", "zip", [],
        {"Runtime": "python3.9", "Role": "arn:aws:iam::123456789012:role/lambda_ice191",
         "Handler": "api_v1.lambda_handler", "Description": "", "Timeout": 3, "MemorySize": 128,
         "TracingConfig": {"Mode": "PassThrough"}, "EphemeralStorage": {"Size": 512},
         "SnapStart": {"ApplyOn": "None"}},
        ["get-function", "Code is not applied", "RuntimeVersionConfig", "SnapStart.OptimizationStatus"],
    ),
}


def test_every_file_of_the_corpus_has_an_expectation_and_a_source():
    files = sorted(path.name for path in CORPUS.glob("*.json"))
    assert files == sorted(EXPECTED), "a corpus file without an expectation here, or the reverse"
    sources = (CORPUS / "SOURCES.md").read_text()
    for name in files:
        assert f"`{name}`" in sources, f"{name} has no entry in SOURCES.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_lambda_configuration_deploys_in_one_run_with_every_settable_field_unchanged(
        scenario, emulator, name):
    function, package, layers, expected, named = EXPECTED[name]
    fn = lambda_fixture(emulator, name=function, package=package)
    lam = fn.client("lambda")
    for layer, version in layers:
        for _ in range(version):  # moto finds a layer version by its name and number
            lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    (scenario.clone_dir / name).write_bytes((CORPUS / name).read_bytes())

    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=function, FUNCTION_CONFIGURATION=name,
                          PUBLISH="false")

    assert result.code == 0, result
    notes = "\n".join(line for line in result.lines if "FUNCTION_CONFIGURATION:" in line)
    for word in named:
        assert word in notes, (word, notes)
    updates = [call for call in emulator.requests("lambda", "UpdateFunctionConfiguration")
               if "aws-role-deploy" in (call["user_agent"] or "")]
    assert len(updates) == 1, updates
    [update] = updates
    assert update["status"] == 200, update
    assert update["unknown_members"] == [] and update["wrong_types"] == [], update
    sent = {key: value for key, value in update["params"].items() if key not in ("FunctionName", "RevisionId")}
    assert sent == expected
    current = lam.get_function_configuration(FunctionName=function)
    for field in ("MemorySize", "Timeout", "Role", "Description"):
        assert current[field] == expected[field], field
    if "Layers" in expected:
        assert [layer["Arn"].rsplit(":", 2)[-2:] for layer in current["Layers"]] == [
            arn.rsplit(":", 2)[-2:] for arn in expected["Layers"]]
    assert json.loads((CORPUS / name).read_text())  # the file itself is left as it was
