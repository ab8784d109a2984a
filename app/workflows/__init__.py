"""End-to-end workflows built on public service functions only: the demo, the replay of a
released crowd file through a marketplace emulator, and the paper's Table 6."""
