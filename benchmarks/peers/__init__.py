"""Peer implementations transcribed from published code, for comparisons with qnnlab."""
