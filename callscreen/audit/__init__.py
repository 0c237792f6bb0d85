"""The append-only audit log of every read and change of an HR case, as a SHA-256 hash chain."""
