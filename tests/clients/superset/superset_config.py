"""Superset configuration for tests/clients/superset/introspect.py: a throw-away SQLite
metadata database, no caching, no async queries, no telemetry."""
import os

SECRET_KEY = "ember-client-suite-not-a-secret"
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_URI"]
SQLALCHEMY_TRACK_MODIFICATIONS = False
WTF_CSRF_ENABLED = False
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
FEATURE_FLAGS = {}
SQLLAB_CTAS_NO_LIMIT = True
PREVENT_UNSAFE_DB_CONNECTIONS = False
LOG_LEVEL = "WARNING"
# No metadata tables are created (no `superset db upgrade`): log events to stdout.
from superset.utils.log import StdOutEventLogger  # noqa: E402

EVENT_LOGGER = StdOutEventLogger()
