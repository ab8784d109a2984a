"""The worker task page (docs/MTURK.md §4): identity, questions, submission."""
