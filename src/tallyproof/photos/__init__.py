"""Acta photos: reading their QR codes (and, for tests, drawing synthetic ones)."""
