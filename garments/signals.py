"""Signals the catalogue sends; other apps (embeddings, ontology) subscribe without garments knowing them."""

from django.dispatch import Signal

# Sent inside the writing transaction with garment_ids=[...] after garments were created or their
# content changed. Receivers defer their work with transaction.on_commit.
garments_changed = Signal()
