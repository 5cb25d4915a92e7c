"""Tests of the deployment artefacts: image, compose, Kubernetes, NATS configs and observability."""
