"""trizap: a self-hosted, multi-tenant WhatsApp session server built on trio actors."""
