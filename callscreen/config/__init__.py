"""TOML configuration: typed model and a loader that validates everything at start-up."""

from callscreen.config.load import load_config
from callscreen.config.model import Config

__all__ = ["Config", "load_config"]
