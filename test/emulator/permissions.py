"""Identity-policy enforcement: a role's permissions policy, when a scenario attaches one
(`POST /_layer/iam/role-policy`), is enforced for every call made with a session of that role.

Each call is mapped to what IAM authorises for it: the action (`ecs:UpdateService`), the
resource ARN it acts on (or `*` for actions without resource-level permissions), the condition
keys IAM supplies (`ecs:cluster` for RunTask), and the extra authorisations some calls imply
(`iam:PassRole` on the task and execution roles a task definition names, with
`iam:PassedToService`). The policy is judged by policy.py, the same evaluator STS uses.

`sts:AssumeRole` (and `sts:TagSession` when tags are sent) is checked on the target role's ARN.

ECR's API calls are checked on the repository's ARN (`arn:aws:ecr:<region>:<registry
account>:repository/<name>`; `ecr:GetAuthorizationToken` on `*`, as IAM has no resource for it).
An image push itself goes to the registry (docker-registry in the tests), not to ECR's API:
real ECR authorises each registry request as `ecr:BatchCheckLayerAvailability` (HEAD of a blob),
`ecr:InitiateLayerUpload` / `ecr:UploadLayerPart` / `ecr:CompleteLayerUpload` (blob uploads),
`ecr:PutImage` (manifest PUT) and `ecr:BatchGetImage` (manifest GET) against the token holder's
policy. The layer cannot see those requests, so it cannot enforce them: a role without, say,
`ecr:UploadLayerPart` still pushes through the test registry. What it does enforce is every call
of ECR's own API the pipe makes: GetAuthorizationToken, DescribeRepositories, CreateRepository,
BatchGetImage and PutImage (promotion), DescribeImageScanFindings and StartImageScan (the scan
gate). With enhanced scanning (ecr_scan.py's scenario `kind: enhanced`), DescribeImageScanFindings
is also authorised as `inspector2:ListFindings` (ECR reads the findings from Amazon Inspector as the
caller: "not authorized to perform: inspector2:ListFindings on resource:
arn:aws:inspector2:<region>:<account>:/findings/list", alexjurkiewicz/ecr-scan-image#19).

Tag-on-create (ECS's "Grant permission to tag resources on creation"): RegisterTaskDefinition
and RunTask that carry `tags` are also authorised as `ecs:TagResource` with the `ecs:CreateAction`
condition key naming the creating call; without tags no ecs:TagResource is needed.

Lambda fetches code from S3 with the caller's permissions (its refusal: "Your access has been
denied by S3, please make sure your request credentials have permission to GetObject for
<bucket>/<key>"): UpdateFunctionCode with `S3Bucket` is also authorised as `s3:GetObject` on
the object (`s3:GetObjectVersion` when `S3ObjectVersion` names a version).

Cleanup calls (issue 20) map like any other: `ecs:ListTaskDefinitions` and
`ecs:DeregisterTaskDefinition` on `*` (IAM has no resource for them), `ecs:DescribeServices` on each
service's ARN; `lambda:ListVersionsByFunction` / `lambda:ListAliases` on the function's ARN, and
`lambda:DeleteFunction` / `lambda:GetProvisionedConcurrencyConfig` with a `Qualifier` on the
qualified ARN (`function:api:3`), so a policy granting `function:api:*` deletes versions only.

CodeDeploy (codedeploy.py) per the CodeDeploy permissions reference
(https://docs.aws.amazon.com/codedeploy/latest/userguide/auth-and-access-control-permissions-reference.html):
CreateDeployment on the deployment group (`deploymentgroup:<app>/<group>`), and with it
`codedeploy:GetDeploymentConfig` on `deploymentconfig:<config>` and
`codedeploy:RegisterApplicationRevision` on `application:<app>` (a CreateDeployment with an inline
AppSpec registers a revision of the application: "One API call, three ARN types", a user's field
report of exactly this denial; GetDeploymentConfig as aws-actions/amazon-ecs-deploy-task-definition
lists it: medium). GetDeployment, BatchGetDeployments, StopDeployment, ContinueDeployment,
ListDeploymentTargets, BatchGetDeploymentTargets, GetDeploymentTarget on the group of the
deployment they name (ContinueDeployment's resource: unverified).

Not modelled: permission boundaries, SCPs, session policies, resource-based policies, and any
call of a service not mapped here (judged on `*`).
"""

import uuid

from . import ecr_scan
from .dispatch import control, on_reset
from .ecs import backend
from .policy import Caller, is_allowed, load_policy


@on_reset
def _reset(layer):
    layer.role_policies = {}


@control("POST", "/_layer/iam/role-policy")
def c_role_policy(layer, body, query):
    """Enforce `policy` (an identity policy) for sessions of `role_arn`; `policy: null` stops."""
    role_arn = body["role_arn"]
    if body.get("policy") is None:
        layer.role_policies.pop(role_arn, None)
    else:
        layer.role_policies[role_arn] = load_policy(body["policy"])
    return {"enforced": sorted(layer.role_policies)}


def _name(value):
    """The last part of a name-or-ARN (`arn:...:cluster/prod` → `prod`)."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _ecs(req, arn, account):
    p = req.params
    cluster = _name(p.get("cluster") or "default")
    cluster_arn = arn("ecs", f"cluster/{cluster}")
    action = req.action
    if action == "UpdateService":
        service = arn("ecs", f"service/{cluster}/{_name(p['service'])}")
        return [(f"ecs:{action}", service, {"ecs:cluster": cluster_arn})] + _infrastructure_roles(p)
    if action == "DescribeServices":
        return [(f"ecs:{action}", arn("ecs", f"service/{cluster}/{_name(s)}"), {"ecs:cluster": cluster_arn})
                for s in p.get("services") or []]
    if action == "DescribeServiceDeployments":
        return [(f"ecs:{action}", a, {}) for a in p.get("serviceDeploymentArns") or []]
    if action == "DescribeServiceRevisions":
        return [(f"ecs:{action}", a, {}) for a in p.get("serviceRevisionArns") or []]
    if action == "ListServiceDeployments":
        return [(f"ecs:{action}", arn("ecs", f"service/{cluster}/{_name(p.get('service') or '')}"), {})]
    if action == "StopServiceDeployment":
        return [(f"ecs:{action}", p["serviceDeploymentArn"], {})]
    if action == "RunTask":
        family = p.get("taskDefinition", "")
        td = family if family.startswith("arn:") else arn("ecs", f"task-definition/{family}")
        task = arn("ecs", f"task/{cluster}/{uuid.uuid4().hex}")  # the task RunTask creates
        return ([(f"ecs:{action}", td, {"ecs:cluster": cluster_arn})] + _infrastructure_roles(p)
                + _tag_on_create(p, action, task, cluster_arn))
    if action == "RegisterTaskDefinition":
        passes = [
            ("iam:PassRole", p[key], {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
            for key in ("taskRoleArn", "executionRoleArn")
            if p.get(key)
        ]
        family = p.get("family", "")
        known = backend(account, req.region or "us-east-1").task_definitions.get(family) or {}
        revision = arn("ecs", f"task-definition/{family}:{max(known, default=0) + 1}")  # the one it creates
        return [(f"ecs:{action}", "*", {})] + passes + _tag_on_create(p, action, revision, None)
    return [(f"ecs:{action}", "*", {})]


def _infrastructure_roles(params):
    """EBS volumes configured at launch (`volumeConfigurations[].managedEBSVolume.roleArn`) name
    the ECS infrastructure role, which the call passes to ECS itself (ecs.amazonaws.com)."""
    return [
        ("iam:PassRole", volume["managedEBSVolume"]["roleArn"], {"iam:PassedToService": "ecs.amazonaws.com"})
        for volume in params.get("volumeConfigurations") or []
        if isinstance(volume, dict) and isinstance(volume.get("managedEBSVolume"), dict)
        and volume["managedEBSVolume"].get("roleArn")
    ]


def _tag_on_create(params, action, created, cluster_arn):
    """Tags in a creating call are authorised as ecs:TagResource too, with ecs:CreateAction, on
    the ARN of the resource being created (`*` and `task-definition/web:*` both match it)."""
    if not params.get("tags"):
        return []
    context = {"ecs:CreateAction": action}
    if cluster_arn:
        context["ecs:cluster"] = cluster_arn
    return [("ecs:TagResource", created, context)]


def _lambda(req, arn):
    p = req.params
    function = p.get("FunctionName", "")
    if not function.startswith("arn:"):
        function = arn("lambda", f"function:{function}")
    qualifier = p.get("Qualifier") or p.get("Name") if req.action in ("GetAlias", "UpdateAlias") else p.get("Qualifier")
    resource = f"{function}:{qualifier}" if qualifier else function
    needs = [(f"lambda:{req.action}", resource, {})]
    if req.action in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
        # Giving a function its execution role passes the role to Lambda.
        needs.append(("iam:PassRole", p["Role"], {"iam:PassedToService": "lambda.amazonaws.com"}))
    if req.action == "UpdateFunctionCode" and p.get("S3Bucket"):
        # Lambda reads the object as the caller (forward access), dry runs included.
        read = "s3:GetObjectVersion" if p.get("S3ObjectVersion") else "s3:GetObject"
        needs.append((read, f"arn:aws:s3:::{p['S3Bucket']}/{p.get('S3Key', '')}", _s3_context(p["S3Bucket"])))
    return needs


def _s3_context(bucket):
    """S3's condition keys IAM fills for a request on `bucket`: `s3:ResourceAccount`, the account
    that owns it (absent for a bucket that does not exist)."""
    from moto.s3.models import s3_backends

    owner = (s3_backends.bucket_accounts.get(bucket) or (None, None))[1]
    return {"s3:ResourceAccount": owner} if owner else {}


def _ecr(req, arn_in, layer=None):
    p = req.params
    if req.action == "GetAuthorizationToken":
        return [("ecr:GetAuthorizationToken", "*", {})]

    def repository(name):
        # REGISTRY_ID names another account's registry: the repository's ARN is in that account.
        return arn_in(p.get("registryId"), "ecr", f"repository/{name}")

    if req.action == "DescribeRepositories":
        names = p.get("repositoryNames") or ["*"]
        return [("ecr:DescribeRepositories", repository(name), {}) for name in names]
    if req.action == "DescribeImageScanFindings" and layer is not None and ecr_scan.is_enhanced(layer):
        findings = arn_in(None, "inspector2", "/findings/list")
        return [(f"ecr:{req.action}", repository(p.get("repositoryName", "")), {}),
                ("inspector2:ListFindings", findings, {})]
    if p.get("repositoryName"):
        return [(f"ecr:{req.action}", repository(p["repositoryName"]), {})]
    return [(f"ecr:{req.action}", "*", {})]


# CodeDeploy actions authorised on the deployment group of the deployment they name.
DEPLOYMENT_ACTIONS = ("GetDeployment", "StopDeployment", "ContinueDeployment", "ListDeploymentTargets",
                      "BatchGetDeploymentTargets", "GetDeploymentTarget")


def _codedeploy(req, arn, layer):
    p = req.params
    action = f"codedeploy:{req.action}"

    def group_arn(app, group):
        return arn("codedeploy", f"deploymentgroup:{app}/{group}") if app and group else "*"

    def of_deployment(did):
        from .codedeploy import deployment_group_of  # codedeploy imports ecs, as this module does

        return group_arn(*deployment_group_of(layer, req, did)) if layer is not None else "*"

    if req.action == "CreateDeployment":
        from .codedeploy import config_name_for

        app, group = p.get("applicationName"), p.get("deploymentGroupName")
        config = p.get("deploymentConfigName") or config_name_for(req, app, group)
        return [(action, group_arn(app, group), {}),
                ("codedeploy:GetDeploymentConfig", arn("codedeploy", f"deploymentconfig:{config}"), {}),
                ("codedeploy:RegisterApplicationRevision", arn("codedeploy", f"application:{app}"), {})]
    if req.action in ("GetDeploymentGroup", "ListDeployments"):
        return [(action, group_arn(p.get("applicationName"), p.get("deploymentGroupName")), {})]
    if req.action in DEPLOYMENT_ACTIONS:
        return [(action, of_deployment(p.get("deploymentId")), {})]
    if req.action == "BatchGetDeployments":
        return [(action, of_deployment(did), {}) for did in p.get("deploymentIds") or []]
    if req.action in ("GetApplication", "RegisterApplicationRevision", "GetApplicationRevision"):
        return [(action, arn("codedeploy", f"application:{p.get('applicationName')}"), {})]
    if req.action == "GetDeploymentConfig":
        return [(action, arn("codedeploy", f"deploymentconfig:{p.get('deploymentConfigName')}"), {})]
    return [(action, "*", {})]


def authorizations(req, account, layer=None):
    """[(iam action, resource ARN, condition keys)] that IAM checks for this request."""
    region = req.region or "us-east-1"

    def arn(service, resource):
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    def arn_in(other_account, service, resource):
        return f"arn:aws:{service}:{region}:{other_account or account}:{resource}"

    if req.service == "sts" and req.action == "GetCallerIdentity":
        return []  # needs no permission in IAM
    if req.service == "sts" and req.action == "AssumeRole":
        # The caller's own side of role chaining (the target's trust policy is sts.py's).
        role = req.params.get("RoleArn", "*")
        tagged = any(key.startswith(("Tags.", "TransitiveTagKeys.")) for key in req.params)
        return [("sts:AssumeRole", role, {})] + ([("sts:TagSession", role, {})] if tagged else [])
    if req.service == "ecs":
        return _ecs(req, arn, account)
    if req.service == "lambda":
        return _lambda(req, arn)
    if req.service == "ecr":
        return _ecr(req, arn_in, layer)
    if req.service == "codedeploy":
        return _codedeploy(req, arn, layer)
    if req.service == "s3":
        bucket_key = req.path.lstrip("/")
        context = _s3_context(bucket_key.split("/", 1)[0]) if bucket_key else {}
        return [(f"s3:{req.action}", f"arn:aws:s3:::{bucket_key}" if bucket_key else "*", context)]
    return [(f"{req.service}:{req.action}", "*", {})]


def _resource_matches(statement, resource):
    from .policy import _as_list, glob_match

    return any(glob_match(pattern, resource) for pattern in _as_list(statement.get("Resource")))


def allowed(policy, action, resource, context):
    """An identity policy: the caller is the policy's own principal, so statements have no
    Principal; Resource must match. Built on policy.is_allowed by filtering on Resource."""
    statements = [
        {**st, "Principal": "*"}
        for st in policy.get("Statement", [])
        if _resource_matches(st, resource)
    ]
    return is_allowed({"Statement": statements}, action, Caller("aws", "identity"), context)


def enforce(layer, req, info):
    """None when every authorisation of the call holds, else the refusal (action, resource)."""
    policy = layer.role_policies.get(info.get("role_arn"))
    if policy is None or not req.action:
        return None
    for action, resource, context in authorizations(req, info["account"], layer):
        if not allowed(policy, action, resource, context):
            return action, resource
    return None
