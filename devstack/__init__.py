"""Developer tooling around the reference gateway (never imported by it: import-linter contract).

- `devstack.cli`: the `responses-gateway` command: `serve` (the gateway; without
  `--backend-url` it first starts the scripted backend) and `up` (`devstack.stack`).
- `devstack.stack`: `Stack`, scripted backend + gateway + a real Envoy on localhost.
- `devstack.gateway_process`: `start_subprocess(args)`, `serve` as a child process for tests.
"""
