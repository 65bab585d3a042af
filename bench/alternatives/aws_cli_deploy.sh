#!/bin/sh
# The deploy as shell-script pipes do it: three AWS CLI invocations (assume the role with the
# step's token, register the task definition, update the service). The benchmark's yardstick for
# the pipe; the token is read from a file (file://), never put on a command line.
# Inputs: ROLE_ARN, TOKEN_FILE, TASK_DEFINITION_FILE, CLUSTER, SERVICE, ENDPOINT, AWS_DEFAULT_REGION.
set -eu
aws="aws --endpoint-url $ENDPOINT"
credentials=$($aws sts assume-role-with-web-identity --role-arn "$ROLE_ARN" \
  --role-session-name "bitbucket-bench" --web-identity-token "file://$TOKEN_FILE" \
  --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
# Word splitting of the tab-separated answer, as such scripts do.
set -- $credentials
export AWS_ACCESS_KEY_ID="$1" AWS_SECRET_ACCESS_KEY="$2" AWS_SESSION_TOKEN="$3"
revision=$($aws ecs register-task-definition --cli-input-json "file://$TASK_DEFINITION_FILE" \
  --query 'taskDefinition.taskDefinitionArn' --output text)
$aws ecs update-service --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$revision" \
  --query 'service.serviceName' --output text >/dev/null
echo "deployed $revision"
