"""Importers: networks from other tools onto neurosim's graph IR, each failing loudly."""
