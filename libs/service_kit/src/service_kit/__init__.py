"""Settings, database, logging, health, problem details and the app/worker/relay factories."""
