"""Fixes: what a rewrite may wrap, the recipes, applying and verifying them, atomic writes."""
