"""The shared domain (users, posts, comments) and its deterministic dataset."""
