"""Django database backend: PostgreSQL, started on demand from the embedded pgserver build."""
