"""What the connected PostgreSQL can do, detected at run time.

Production runs pgvector 0.8+ (iterative index scans, halfvec) with pg_trgm; the embedded server
runs pgvector 0.6.2 without pg_trgm. Code asks here instead of assuming either.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

_cache: dict[tuple[str, str, str], DatabaseFeatures] = {}


def parse_version(text: str) -> tuple[int, ...]:
    """'0.8.0' -> (0, 8, 0); tolerant of suffixes such as '0.7.0-dev'."""
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True)
class DatabaseFeatures:
    server_version: int  # e.g. 160004
    pgvector_version: tuple[int, ...] | None  # installed in this database; None when absent
    pgvector_available: tuple[int, ...] | None  # the server's default version for CREATE EXTENSION
    has_pg_trgm: bool

    @property
    def supports_iterative_scan(self) -> bool:
        """hnsw.iterative_scan / hnsw.max_scan_tuples arrived in pgvector 0.8.0."""
        return self.pgvector_version is not None and self.pgvector_version >= (0, 8, 0)

    @property
    def supports_halfvec(self) -> bool:
        return self.pgvector_version is not None and self.pgvector_version >= (0, 7, 0)

    def describe(self) -> str:
        def version(value: tuple[int, ...] | None) -> str:
            return ".".join(map(str, value)) if value else "none"

        return (
            f"PostgreSQL {self.server_version // 10000}.{self.server_version % 10000}, "
            f"pgvector {version(self.pgvector_version)} (server offers {version(self.pgvector_available)}), "
            f"pg_trgm {'yes' if self.has_pg_trgm else 'no'}, "
            f"iterative scans {'yes' if self.supports_iterative_scan else 'no'}"
        )


def database_features(using: str = "default", *, refresh: bool = False) -> DatabaseFeatures:
    """Features of the database behind `using`, cached per process and database."""
    connection = connections[using]
    key = (using, str(connection.settings_dict.get("NAME")), str(connection.settings_dict.get("HOST")))
    if not refresh and key in _cache:
        return _cache[key]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT current_setting('server_version_num')::int,
                   (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
                   (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'),
                   EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
            """
        )
        server_version, installed, available, has_trgm = cursor.fetchone()
    features = DatabaseFeatures(
        server_version=server_version,
        pgvector_version=parse_version(installed) if installed else None,
        pgvector_available=parse_version(available) if available else None,
        has_pg_trgm=bool(has_trgm),
    )
    _cache[key] = features
    return features
