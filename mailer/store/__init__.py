"""The SQLite store: opening it, its schema, and the queries on each table."""

from mailer.store.database import SCHEMA_VERSION, Store, open_store

__all__ = ["SCHEMA_VERSION", "Store", "open_store"]
