"""What a production Dagster deployment of genesys_assets needs beyond the definitions.

- `launcher`: `SingleHostRunLauncher`, the run launcher of `deploy/dagster.yaml` (code server and
  daemon on one host), with the run worker health check that Dagster's own DefaultRunLauncher
  lacks;
- `pools`: `python -m genesys_assets.deploy.pools` sets the instance's pool limits for the
  datasets file and the warehouse.

Nothing here is imported by the definitions: the daemon imports the launcher, an operator runs
the pools command.
"""
