from shared.db.migrations import run_env
from shared.tenancy.tables import metadata

run_env(metadata)
