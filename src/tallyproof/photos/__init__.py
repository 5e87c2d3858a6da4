"""Acta photos: reading their QR codes, restoring damaged finder patterns, and OCR of the printed counts."""
