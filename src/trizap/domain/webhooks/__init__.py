"""Webhooks: a delivery actor per webhook (`delivery`), one tenant's webhooks and the
operations on them (`manager`), what an attempt means (`policy`, sans I/O) and what they
add up to (`metrics`)."""
