"""Numbered SQL migrations, installed as ``tent.migrations`` so that an installed server finds them."""
