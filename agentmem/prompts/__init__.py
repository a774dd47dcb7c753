"""Prompt templates, one file each, rendered at call time."""
