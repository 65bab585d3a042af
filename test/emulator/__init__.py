"""Test emulator layer: our own WSGI middleware in front of an in-process moto server.

moto answers the AWS APIs; this layer adds what moto lacks for the pipe's tests:
STS judging (web-identity tokens, trust policies, durations, tags), fault injection,
request recording, a secrets registry, credential expiry, and ECS scenarios (task
definitions that round-trip, rollouts over time, tasks that stop). See README.md.
"""
