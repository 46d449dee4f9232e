"""Payment: payment intents over provider adapters; never charges twice."""
