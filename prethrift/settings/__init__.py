"""Settings modules: `local` (the default: development and the demo), `test`, `production`."""
