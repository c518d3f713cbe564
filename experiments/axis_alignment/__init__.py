"""Seed-000 axis-alignment criterion experiments (linear reference reproduction)."""
