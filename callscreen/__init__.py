"""callscreen: ring-time call screening beside an Asterisk PBX."""

__version__ = "0.1.0"
