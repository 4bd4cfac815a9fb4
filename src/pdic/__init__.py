"""pdic: provision, monitor and audit a provincial Data Integration Centre."""

__version__ = "0.1.0"
