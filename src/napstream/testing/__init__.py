"""napstream.testing"""
