"""What every service scenario (ecs_scenario, lambda_scenario) shares: an IAM user's keys in
one account, boto3 clients signed with them, and the variables that point the pipe at them."""

from dataclasses import dataclass

import boto3
from botocore.config import Config

REGION = "us-east-1"


def client_for(emulator, service, credentials, retries=3):
    return boto3.client(
        service,
        endpoint_url=emulator.base_url,
        region_name=REGION,
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        config=Config(retries={"total_max_attempts": retries, "mode": "standard"}),
    )


@dataclass
class AccountScenario:
    emulator: object
    account: str
    region: str
    credentials: dict  # {"arn", "access_key_id", "secret_access_key"} of the IAM user

    def client(self, service, retries=3):
        return client_for(self.emulator, service, self.credentials, retries)

    def env(self):
        """AWS variables for running the pipe against this scenario with the user's keys."""
        return {
            "AWS_ACCESS_KEY_ID": self.credentials["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.credentials["secret_access_key"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.emulator.base_url,
        }
