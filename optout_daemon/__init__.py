"""optout-daemon: honours CPNI marketing opt-outs that customers send by email."""

__version__ = "0.1.0"
