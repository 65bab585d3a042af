"""The deploy as the Python pipes do it: boto3 assumes the role with the step's token, registers
the task definition and updates the service. The benchmark's yardstick for the pipe.
Inputs: ROLE_ARN, TOKEN_FILE, TASK_DEFINITION_FILE, CLUSTER, SERVICE, ENDPOINT, AWS_DEFAULT_REGION."""

import json
import os

import boto3


def main():
    endpoint = os.environ["ENDPOINT"]
    with open(os.environ["TOKEN_FILE"]) as token:
        answer = boto3.client("sts", endpoint_url=endpoint).assume_role_with_web_identity(
            RoleArn=os.environ["ROLE_ARN"], RoleSessionName="bitbucket-bench", WebIdentityToken=token.read())
    credentials = answer["Credentials"]
    ecs = boto3.client("ecs", endpoint_url=endpoint, aws_access_key_id=credentials["AccessKeyId"],
                       aws_secret_access_key=credentials["SecretAccessKey"],
                       aws_session_token=credentials["SessionToken"])
    with open(os.environ["TASK_DEFINITION_FILE"]) as document:
        revision = ecs.register_task_definition(**json.load(document))["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=os.environ["CLUSTER"], service=os.environ["SERVICE"], taskDefinition=revision)
    print(f"deployed {revision}")


if __name__ == "__main__":
    main()
