"""napstream.cli"""
