"""Crowd data services: examples and gold, answers (every write in :mod:`.submissions`), labels
and worker quality, exports, summaries and offline reports."""
