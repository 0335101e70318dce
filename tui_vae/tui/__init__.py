"""The Textual explorer: a thin layer over the services (workspace, training, inference)."""
