"""The music library: SQLite storage (db), tag reading (tags), scanning (scan), executors."""

from .db import Library, default_db_path, open_library

__all__ = ["Library", "default_db_path", "open_library"]
