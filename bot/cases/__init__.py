"""M+3 cases: the engine that keeps them in step with the contracts (`engine`), their read
model (`views`) and the queries that list them and build each advisor's queue (`queries`)."""
