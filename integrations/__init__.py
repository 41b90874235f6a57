"""Optional integrations with other libraries (imported lazily)."""
