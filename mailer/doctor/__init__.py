"""Checking the sending setup against what mailbox providers require."""
