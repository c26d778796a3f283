"""Draftwell: private, local deep research (WARP) as a desktop application."""

__version__ = "0.1.0"
