from pricing.adapters.tables import metadata
from service_kit.migrate import run_env

run_env(metadata, "pricing")
