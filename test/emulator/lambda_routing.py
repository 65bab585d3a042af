"""Alias routing (`RoutingConfig.AdditionalVersionWeights`) judged as Lambda judges it; moto
stores any routing it is given. Lambda's rules
(https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html and
https://docs.aws.amazon.com/lambda/latest/api/API_AliasRoutingConfiguration.html):

- an alias points at two versions at most: one additional version besides its own;
- the weight is from 0.0 to 1.0, and the key a published version number (pattern `[0-9]+`);
- both versions are published: an alias of `$LATEST` takes no weights;
- both versions have the same execution role, and the same dead-letter queue configuration
  (or none).

Each broken rule is a 400 `InvalidParameterValueException` on CreateAlias/UpdateAlias, before
moto stores anything. Only the role's message is Lambda's own as users quote it
("Specified versions must be associated with the same execution role":
serverless-heaven/serverless-aws-alias#64); the others are the layer's wording (unverified).
An UpdateAlias without `FunctionVersion` is judged against the version the alias points at.
Always on: no scenario control.
"""

from .lambda_ import invalid_parameter, storage


def check(call, req, version_function):
    """The refusal of a CreateAlias/UpdateAlias whose routing Lambda would refuse, or None.
    `version_function(call, number)` is moto's function object of a published version."""
    routing = req.params.get("RoutingConfig") or {}
    weights = routing.get("AdditionalVersionWeights") or {}
    if not weights:
        return None
    primary = req.params.get("FunctionVersion")
    if primary is None:
        alias = storage(call.account, call.region)._aliases.get(call.arn, {}).get(req.params.get("Name"))
        primary = alias.function_version if alias is not None else None
    if len(weights) > 1:
        return invalid_parameter(
            f"An alias can point to at most two versions: AdditionalVersionWeights names {len(weights)} "
            f"({', '.join(sorted(weights))}), at most 1 is allowed")
    [(extra, weight)] = weights.items()
    if not str(extra).isdigit():
        return invalid_parameter(
            f"1 validation error detected: Value '{extra}' at 'routingConfig.additionalVersionWeights' failed to "
            "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
            "pattern: [0-9]+]")
    if not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        return invalid_parameter(
            f"1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' failed "
            "to satisfy constraint: Map values must satisfy constraint: [Member must have value between 0.0 and 1.0]")
    if str(primary) == "$LATEST":
        return invalid_parameter("$LATEST is not supported for an alias pointing to more than 1 version")
    first, second = version_function(call, str(primary)), version_function(call, str(extra))
    if first is None or second is None:
        return None  # moto answers a version that does not exist
    one, other = first.get_configuration(), second.get_configuration()
    if one.get("Role") != other.get("Role"):
        return invalid_parameter("Specified versions must be associated with the same execution role")
    if (one.get("DeadLetterConfig") or {}).get("TargetArn") != (other.get("DeadLetterConfig") or {}).get("TargetArn"):
        return invalid_parameter("Specified versions must be associated with the same dead letter queue configuration")
    return None
